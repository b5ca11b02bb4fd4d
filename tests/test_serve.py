"""`avatarzoo serve`: the protocol, a live session end to end, every limit closing only
its own session with its code, a client that never reads, and the CLI. Real avatar: the
session's smoke build. No assertion on speed: frames are asserted by what they carry."""

from __future__ import annotations

import json
import threading
import time

import cv2
import numpy as np
import pytest
from _serve_helpers import LiveServer, never_reading_client, pcm16, speech

from avatarzoo.serve.protocol import (CloseCode, StartMessage, Violation, decode_frame, decode_pcm, encode_frame,
                                      parse_text)

LIMITS = dict(max_sessions=3, start_timeout_s=1.0, idle_timeout_s=1.5, max_ahead_s=1.0, send_timeout_s=0.5,
              send_queue_frames=4)


@pytest.fixture(scope="module")
def avatar(smoke_build):
    import avatarzoo

    cache, _ = smoke_build
    return avatarzoo.load(cache / "bundles" / "demo-v1")


def make_app(avatar, **limits):
    from avatarzoo.serve.app import create_app
    from avatarzoo.serve.sessions import Limits

    return create_app([avatar], limits=Limits(**(LIMITS | limits)), workers=2)


@pytest.fixture(scope="module")
def client(avatar):
    from starlette.testclient import TestClient

    with TestClient(make_app(avatar)) as c:
        yield c


def until_close(ws) -> tuple[int, str, list[dict]]:
    """Read (and ignore frames) until the server closes: (code, reason, text messages)."""
    texts = []
    while True:
        m = ws.receive()
        if m["type"] == "websocket.close":
            return m["code"], m.get("reason") or "", texts
        if m.get("text"):
            texts.append(json.loads(m["text"]))


# --- protocol (no server) ---------------------------------------------------------------

def test_messages_are_validated_and_frames_round_trip():
    assert parse_text('{"type": "start", "avatar": "a", "format": "rgb"}') == StartMessage(
        type="start", avatar="a", format="rgb")
    for bad in ("hello", "[]", '{"type": "start", "colour": 1}', '{"type": "start", "quality": 5}',
                '{"type": "dance"}', '{"type": "start", "lead_s": "soon"}'):
        with pytest.raises(Violation) as e:
            parse_text(bad)
        assert e.value.code == CloseCode.BAD_MESSAGE and "expected" in e.value.reason, bad
    with pytest.raises(Violation):
        decode_pcm(b"\x00" * 3, "s16le")
    with pytest.raises(Violation):
        decode_pcm(np.array([0.0, np.nan], "<f4").tobytes(), "f32le")
    assert np.allclose(decode_pcm(np.array([-32768, 16384], "<i2").tobytes(), "s16le"), [-1.0, 0.5])
    header = dict(index=3, time=0.12, audio_time=0.08, source=(10, 30), activity=0.5, dropped=1, format="rgb",
                  width=2, height=1)
    h, audio, image = decode_frame(encode_frame(header, np.arange(4, dtype="<i2").tobytes(), b"\x01" * 6))
    assert (h.index, h.source, h.audio_bytes, h.image_bytes, image) == (3, (10, 30), 8, 6, b"\x01" * 6)
    assert np.allclose(audio * 32768, np.arange(4))


# --- a live session -------------------------------------------------------------------------

def test_a_session_streams_frames_that_carry_the_audio_sent(client, avatar):
    sent = speech(0.8)
    with client.websocket_connect("/ws") as ws:
        ws.send_text('{"type": "start"}')
        ready = json.loads(ws.receive_text())
        assert ready["type"] == "ready" and ready["avatar"] == "demo-v1" and ready["fps"] == avatar.fps
        assert ready["width"] == ready["height"] == avatar.size and ready["latency_s"] > 0
        for i in range(0, len(sent), 640):  # 40 ms chunks (sent at once: 0.8 s ahead is within the limit)
            ws.send_bytes(pcm16(sent[i:i + 640]))
        frames, covered = [], 0
        while covered < len(sent) and len(frames) < 200:
            h, audio, image = decode_frame(ws.receive_bytes())
            frames.append(h)
            per_frame = 16000 / ready["fps"]
            assert len(audio) == round((h.time - h.audio_time) * 16000 + per_frame)  # its own 40 ms (+ dropped)
            if h.source:
                a, b = h.source
                assert a == covered, "frames hold the audio sent, in order, none lost"
                n = b - a
                assert np.allclose(audio[len(audio) - n:] if a > 0 else audio[:n], sent[a:b], atol=3e-4) or \
                    np.allclose(audio[:n], sent[a:b], atol=3e-4)
                covered = b
        assert covered == len(sent)
        assert [f.index for f in frames] == sorted({f.index for f in frames})
        assert all(abs(f.time - f.index / ready["fps"]) < 1e-9 for f in frames)
        img = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)
        assert img.shape == (avatar.size, avatar.size, 3)
        assert max(f.activity for f in frames) > 0.5  # the driver heard speech
        ws.send_text('{"type": "stop"}')
        assert until_close(ws)[0] == CloseCode.NORMAL
    assert client.get("/health").json()["sessions"] == 0


def test_raw_rgb_on_request(client, avatar):
    with client.websocket_connect("/ws") as ws:
        ws.send_text('{"type": "start", "format": "rgb"}')
        assert json.loads(ws.receive_text())["format"] == "rgb"
        h, _, image = decode_frame(ws.receive_bytes())  # silence: the avatar idles, frames still come
        assert h.format == "rgb" and h.source is None and len(image) == avatar.size ** 2 * 3
        ws.send_text('{"type": "stop"}')
        until_close(ws)


# --- limits: each bad client closes only its own session, with its code ----------------------

START = '{"type": "start"}'
CASES = {
    "binary first": ([b"\x00\x00"], CloseCode.BAD_MESSAGE),
    "not JSON": (["hello"], CloseCode.BAD_MESSAGE),
    "unknown field": (['{"type": "start", "colour": "red"}'], CloseCode.BAD_MESSAGE),
    "unknown avatar": (['{"type": "start", "avatar": "demo-v2"}'], CloseCode.UNKNOWN_AVATAR),
    "odd-length PCM": ([START, b"\x00" * 3], CloseCode.BAD_MESSAGE),
    "second start": ([START, START], CloseCode.BAD_MESSAGE),
    "oversize message": ([START, b"\x00" * 70_000], CloseCode.TOO_BIG),
    "chunk over 1 s": ([START, b"\x00" * 48_000], CloseCode.TOO_BIG),
    "oversize text": ([START, '{"type": "ping", "x": "' + "a" * 5000 + '"}'], CloseCode.TOO_BIG),
    "audio too fast": ([START] + [b"\x00" * 3200] * 30, CloseCode.TOO_FAST),
    "message flood": ([START] + ['{"type": "ping"}'] * 150, CloseCode.TOO_FAST),
    "no start message": ([], CloseCode.TIMEOUT),
    "idle": ([START], CloseCode.TIMEOUT),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_client_is_closed_with_its_code_and_a_reason(client, case):
    messages, code = CASES[case]
    with client.websocket_connect("/ws") as ws:
        for m in messages:
            ws.send_bytes(m) if isinstance(m, bytes) else ws.send_text(m)
        got, reason, texts = until_close(ws)
    assert got == code, (case, got, reason)
    errors = [t for t in texts if t["type"] == "error"]
    assert errors and errors[-1]["code"] == code and len(errors[-1]["reason"]) > 10
    if case == "unknown avatar":
        assert "did you mean 'demo-v1'" in errors[-1]["reason"]
    h = client.get("/health").json()
    assert h["status"] == "ok" and h["sessions"] == 0 and h["slots"] == 0


def test_a_full_server_says_so_and_serves_again_when_a_slot_frees(client):
    opened = []
    try:
        for _ in range(3):
            ws = client.websocket_connect("/ws").__enter__()
            ws.send_text(START)
            assert json.loads(ws.receive_text())["type"] == "ready"
            opened.append(ws)
        with client.websocket_connect("/ws") as extra:
            assert until_close(extra)[0] == CloseCode.FULL
    finally:
        for ws in opened:
            ws.send_text('{"type": "stop"}')
            until_close(ws)
            ws.__exit__(None, None, None)
    with client.websocket_connect("/ws") as ws:
        ws.send_text(START)
        assert json.loads(ws.receive_text())["type"] == "ready"
        ws.send_text('{"type": "stop"}')
        until_close(ws)


def test_a_client_that_never_reads_is_closed_and_does_not_stall_another(avatar):
    """Under uvicorn: the never-reading client's frames back up through TCP, its queue
    drops them, then it is closed (4504); a normal client streams throughout. The stuck
    client never sends either, so the idle timeout is set far past the send timeout (5 s):
    on a loaded CPU its frames back up slowly, and an idle close (4408) must not win."""
    from websockets.sync.client import connect

    sent = speech(2.0)
    with LiveServer(make_app(avatar, idle_timeout_s=120.0, max_ahead_s=3.0)) as srv:
        stuck = never_reading_client(srv.port, {"type": "start", "format": "rgb"})
        try:
            covered, frames = 0, 0
            with connect(srv.ws_url) as ws:
                ws.send(START)
                assert json.loads(ws.recv())["type"] == "ready"

                def feed():
                    for i in range(0, len(sent), 640):
                        ws.send(pcm16(sent[i:i + 640]))
                        time.sleep(0.04)

                feeder = threading.Thread(target=feed)
                feeder.start()
                while covered < len(sent):
                    h, _, _ = decode_frame(ws.recv(timeout=10))
                    frames += 1
                    if h.source:
                        assert h.source[0] == covered
                        covered = h.source[1]
                feeder.join()
                h = srv.wait_health(lambda h: h["closed"].get("4504", 0) >= 1, timeout=90.0)
                assert h["closed"].get("4504") == 1 and h["sessions"] == 1, h
                ws.send('{"type": "stop"}')
                for _ in ws:  # the frames still queued, then the close
                    pass
                assert ws.close_code == CloseCode.NORMAL
            assert covered == len(sent)
        finally:
            stuck.close()
        h = srv.wait_health(lambda h: h["sessions"] == 0 and h["slots"] == 0)
        assert h["sessions"] == 0 and h["slots"] == 0 and h["status"] == "ok", h


def test_serve_says_what_to_do_with_an_empty_store(tmp_path):
    from click.testing import CliRunner

    from avatarzoo.cli import main

    r = CliRunner().invoke(main, ["serve", "--cache", str(tmp_path), "--port", "0"])
    assert r.exit_code == 2 and "the local store is empty" in r.output
