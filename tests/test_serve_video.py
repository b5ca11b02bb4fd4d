"""`avatarzoo serve` with `"drive": "video"`: pictures of someone's face in (a webcam),
the avatar reenacting them out. The pictures are the demo recording's own frames (a
real face); the avatar is the session's smoke build. Lock-step clients (a picture, then
its frame) so that nothing depends on how fast this machine is."""

from __future__ import annotations

import asyncio
import json
import struct
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from _serve_helpers import ROOT, LiveServer

from avatarzoo.serve.protocol import (MAX_PICTURE_SIDE, CloseCode, StartMessage, Violation, decode_frame,
                                      decode_picture, jpeg_size)

START = json.dumps({"type": "start", "drive": "video", "format": "rgb"})


@pytest.fixture(scope="module")
def avatar(smoke_build):
    import avatarzoo

    cache, _ = smoke_build
    return avatarzoo.load(cache / "bundles" / "demo-v1")


@pytest.fixture(scope="module")
def pictures() -> list[bytes]:
    """The demo recording's first 2.4 s as a webcam would send them: 320 px wide JPEGs."""
    import av

    out = []
    with av.open(str(ROOT / "data" / "obama-address-20s.mp4")) as c:
        for frame in c.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            h, w = rgb.shape[:2]
            small = cv2.resize(rgb, (320, round(320 * h / w)), interpolation=cv2.INTER_AREA)
            ok, buf = cv2.imencode(".jpg", small[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
            out.append(buf.tobytes())
            if len(out) == 60:
                return out
    return out


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A tiny JPEG whose frame header says width × height (its data is a 16² picture's)."""
    ok, buf = cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))
    data = bytearray(buf.tobytes())
    i = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, i + 5, height, width)
    return bytes(data)


def _exif_rotated(jpeg: bytes) -> bytes:
    """`jpeg` with an Exif APP1 segment saying: rotate 90° to view (orientation 6, as phones write)."""
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0) \
        + struct.pack(">I", 0)
    app1 = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


def test_grey_progressive_and_rotated_pictures_decode_to_rgb_as_viewed():
    rng = np.random.default_rng(0)
    grey = cv2.imencode(".jpg", rng.integers(0, 255, (40, 60), np.uint8))[1].tobytes()
    colour = rng.integers(0, 255, (40, 60, 3), np.uint8)
    progressive = cv2.imencode(".jpg", colour, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    assert decode_picture(grey, 0).shape == decode_picture(progressive, 1).shape == (40, 60, 3)
    rotated = _exif_rotated(cv2.imencode(".jpg", colour)[1].tobytes())
    assert jpeg_size(rotated) == (60, 40) and decode_picture(rotated, 2).shape == (60, 40, 3)  # turned upright


def test_picture_sizes_are_read_from_the_header_before_decoding(pictures):
    w, h = jpeg_size(pictures[0])
    assert w == 320 and decode_picture(pictures[0], 0).shape == (h, w, 3)
    assert jpeg_size(b"not a jpeg") is None and jpeg_size(pictures[0][:3]) is None
    huge = _jpeg_claiming(60_000, 60_000)
    assert jpeg_size(huge) == (60_000, 60_000)
    with pytest.raises(Violation) as e:
        decode_picture(huge, 7)
    assert e.value.code == CloseCode.TOO_BIG and "picture 7: 60000×60000" in e.value.reason
    cut = pictures[0][:pictures[0].index(b"\xff\xc0") + 19]  # the headers, no picture data
    assert jpeg_size(cut) == (w, h)
    with pytest.raises(Violation) as e:
        decode_picture(cut, 3)
    assert e.value.code == CloseCode.BAD_MESSAGE and "picture 3" in e.value.reason
    assert decode_picture(_jpeg_claiming(MAX_PICTURE_SIDE, 32), 4).shape == (32, MAX_PICTURE_SIDE, 3)  # at most this
    with pytest.raises(Violation) as e:
        decode_picture(b"\x00" * 100, 0)
    assert e.value.code == CloseCode.BAD_MESSAGE and "not a JPEG" in e.value.reason


def _stand_in(space: str) -> SimpleNamespace:
    """What a VideoSession asks of its renderer before a picture: fps, size, id, and a
    bundle saying which space the avatar renders (tracked by the default tracker)."""
    from avatarzoo.spaces import get_space

    bundle = SimpleNamespace(config={}, metadata={"avatarzoo.space": get_space(space).to_json()})
    return SimpleNamespace(fps=25.0, size=96, id="a-v1", bundle=bundle)


def test_a_newer_picture_replaces_one_not_yet_worked_on():
    from avatarzoo.serve.sessions import Limits, VideoSession

    async def scenario():
        manager = SimpleNamespace(limits=Limits())
        s = VideoSession(manager, None, "s1", StartMessage(type="start", drive="video"), _stand_in("face-64"))
        s._take(b"0", 0.0)
        s._take(b"1", 0.01)
        s._take(b"2", 0.02)
        return s

    s = asyncio.run(scenario())
    assert s.pictures == 3 and s.dropped_in == 2 and s._latest[:2] == (2, b"2")


def test_an_avatar_in_another_space_is_refused_before_any_picture():
    from avatarzoo.drive.live import check_live_space
    from avatarzoo.errors import SpaceError
    from avatarzoo.serve.sessions import Limits, VideoSession

    check_live_space(_stand_in("face-64"))
    with pytest.raises(SpaceError, match="tracked in 'face-64' and this avatar renders 'arkit-52'"):
        check_live_space(_stand_in("arkit-52"))

    async def scenario():
        VideoSession(SimpleNamespace(limits=Limits()), None, "s1", StartMessage(type="start", drive="video"),
                     _stand_in("arkit-52"))

    with pytest.raises(Violation) as e:
        asyncio.run(scenario())
    assert e.value.code == CloseCode.BAD_MESSAGE and "a-v1 cannot be driven by a camera" in e.value.reason


def test_a_face_on_camera_drives_the_avatar(avatar, pictures):
    """Lock-step: each picture's frame comes back, numbered by it; the avatar holds its
    neutral while it learns the driver's (the first second of faces), then follows."""
    from websockets.sync.client import connect

    from avatarzoo.serve.app import create_app

    with LiveServer(create_app([avatar], workers=2)) as srv:
        with connect(srv.ws_url) as ws:
            ws.send(START)
            ready = json.loads(ws.recv(timeout=30))
            assert ready["type"] == "ready" and ready["drive"] == "video" and ready["latency_s"] == 0
            headers, images = [], []
            for k, pic in enumerate(pictures):
                ws.send(pic)
                h, audio, image = decode_frame(ws.recv(timeout=30))
                assert h.source == (k, k + 1) and h.index == k and len(audio) == 0
                headers.append(h)
                images.append(np.frombuffer(image, np.uint8).reshape(h.height, h.width, 3))
                if k == 0:
                    assert srv.health()["drives"] == {"video": 1}
            ws.send('{"type": "stop"}')
            for _ in ws:
                pass
        h = srv.wait_health(lambda h: h["sessions"] == 0)
    assert h["closed"].get("1000") == 1 and h["slots"] == 0, h
    assert all(x.face for x in headers) and all(x.dropped == 0 for x in headers)
    warm = [x.calibrating for x in headers]
    n = warm.index(False)  # the warm-up: a second of faces (25 at the avatar's 25 fps)
    assert 10 <= n <= 30 and not any(warm[n:]), warm
    assert images[0].shape == (avatar.size, avatar.size, 3)
    assert all(np.array_equal(images[0], im) for im in images[:n])  # the avatar's neutral, held
    assert not np.array_equal(images[0], images[-1])
    moving = np.std(np.stack(images[n:]).astype(np.float32), axis=0).mean()
    assert moving > 0.2, moving  # following the driver: the frames after the warm-up change


def test_a_flood_of_pictures_is_answered_by_the_newest(avatar, pictures):
    """Sent all at once (faster than any server tracks faces), pictures that arrive while
    one is being worked on replace each other: frames answer a rising subset, and the
    last one always answers the last picture."""
    from websockets.sync.client import connect

    from avatarzoo.serve.app import create_app

    flood = pictures[:40]
    with LiveServer(create_app([avatar], workers=2)) as srv:
        with connect(srv.ws_url) as ws:
            ws.send(START)
            assert json.loads(ws.recv(timeout=30))["type"] == "ready"
            for pic in flood:
                ws.send(pic)
            sources = []
            while not sources or sources[-1] != len(flood) - 1:
                h, _, _ = decode_frame(ws.recv(timeout=30))
                sources.append(h.source[0])
            ws.send('{"type": "stop"}')
            for _ in ws:
                pass
        h = srv.wait_health(lambda h: h["sessions"] == 0)
    assert sources == sorted(set(sources)) and sources[-1] == len(flood) - 1, sources
    assert h["closed"].get("1000") == 1, h


@pytest.mark.parametrize("picture, code, words", [
    (b"\x89PNG\r\n\x1a\n....", CloseCode.BAD_MESSAGE, "picture 0: 12 bytes that are not a JPEG"),
    (_jpeg_claiming(4000, 3000), CloseCode.TOO_BIG, "picture 0: 4000×3000 px"),
])
def test_a_bad_picture_closes_its_session_with_a_reason(avatar, picture, code, words):
    from websockets.exceptions import ConnectionClosedError
    from websockets.sync.client import connect

    from avatarzoo.serve.app import create_app

    with LiveServer(create_app([avatar], workers=2)) as srv:
        with connect(srv.ws_url) as ws:
            ws.send(START)
            assert json.loads(ws.recv(timeout=30))["type"] == "ready"
            ws.send(picture)
            err = json.loads(ws.recv(timeout=30))
            assert err["type"] == "error" and err["code"] == code and words in err["reason"], err
            with pytest.raises(ConnectionClosedError):
                ws.recv(timeout=30)
            assert ws.close_code == code
        h = srv.wait_health(lambda h: h["sessions"] == 0 and h["slots"] == 0)
        assert h["status"] == "ok" and h["slots"] == 0


def test_the_camera_client_example_drives_a_served_avatar(avatar, tmp_path):
    """examples/camera_client.py, as a user runs it, with the demo recording as the camera."""
    import subprocess
    import sys

    from avatarzoo.serve.app import create_app

    out = tmp_path / "frames"
    with LiveServer(create_app([avatar], workers=2)) as srv:
        r = subprocess.run([sys.executable, str(ROOT / "examples" / "camera_client.py"), "--video",
                            str(ROOT / "data" / "obama-address-20s.mp4"), "--seconds", "2", "--url", srv.ws_url,
                            "--out", str(out)], capture_output=True, text=True, timeout=120)
        h = srv.wait_health(lambda h: h["sessions"] == 0)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["pictures"] >= 10 and summary["frames"] == len(list(out.glob("*.jpg"))) >= 5, summary
    assert cv2.imread(str(next(out.glob("*.jpg")))).shape == (avatar.size, avatar.size, 3)
    assert h["closed"].get("1000") == 1, h
