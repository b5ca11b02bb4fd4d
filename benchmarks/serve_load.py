"""A bounded load test of `avatarzoo serve`: many sessions opened and closed, bad and
hostile clients, then: no crash, no leaked session, task or thread, memory back near
its baseline.

    .venv/bin/python benchmarks/serve_load.py demo-v1 --cache CACHE --json out.json

The server runs as a subprocess (--max-sessions 8, send timeout 2 s). Phases:
1. churn: --churn sessions (default 200) in waves of --max-sessions: start, 0.3 s of speech in real
   time, read frames, then leave in one of three ways: stop, a WebSocket close without
   stop, or the TCP connection dropped without any close;
2. bad clients, --max-sessions of each at once: oversize (70 kB: 4413; 300 kB: 1009 from the protocol layer),
   not JSON, an unknown field, odd-length PCM, binary first (4400), an unknown avatar
   (4404), audio 3 s ahead of real time, a flood of pings (4429);
3. overflow: --max-sessions sessions held, 10 more refused (4503);
4. 8 clients that stream audio but never read (raw RGB frames back up through TCP
   until the kernel's buffers are full, then the send queue drops them): closed (4504);
5. settle, then health against the baseline taken after a warm-up session, and one more
   normal session. --rounds (2) runs phases 1-4 again: memory after each round.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import websockets
from _serve_bench import CHUNK, SR, Server, read_speech

START = '{"type": "start"}'


async def closed_code(ws) -> int | None:
    try:
        async for _ in ws:
            pass
    except websockets.ConnectionClosed:
        pass
    return ws.close_code


async def normal_session(url: str, speech: np.ndarray, how: str, offset: int = 0) -> str:
    ws = await websockets.connect(url, max_size=2**24)
    try:
        await ws.send(START)
        ready = json.loads(await ws.recv())
        if ready["type"] != "ready":
            return f"refused {ready.get('code')}"
        frames = 0
        t0 = time.monotonic()
        for i in range(8):  # 0.32 s in real time
            await asyncio.sleep(max(0.0, t0 + i * CHUNK / SR - time.monotonic()))
            j = offset % (len(speech) - 8 * CHUNK) + i * CHUNK
            await ws.send((speech[j:j + CHUNK] * 32767).astype("<i2").tobytes())
        while frames < 3:
            try:
                if isinstance(await asyncio.wait_for(ws.recv(), 10), bytes):
                    frames += 1
            except asyncio.TimeoutError:
                return f"no frame in 10 s after {frames}"
        if how == "stop":
            await ws.send('{"type": "stop"}')
            return f"stop {await closed_code(ws)}"
        if how == "close":
            await ws.close()
            return "close"
        ws.transport.abort()  # no close handshake at all
        return "abort"
    except websockets.ConnectionClosed as e:
        return f"closed {e.rcvd.code if e.rcvd else None}"
    finally:
        if ws.state is not websockets.protocol.State.CLOSED and how != "abort":
            await ws.close()


BAD = {
    "oversize 70 kB": ([START, b"\0" * 70_000], 4413),
    "oversize 300 kB": ([START, b"\0" * 300_000], 1009),
    "not JSON": (["{not json"], 4400),
    "unknown field": (['{"type": "start", "x": 1}'], 4400),
    "odd-length PCM": ([START, b"\0" * 641], 4400),
    "binary first": ([b"\0\0"], 4400),
    "unknown avatar": (['{"type": "start", "avatar": "nobody"}'], 4404),
    "audio 3 s ahead": ([START] + [b"\0" * 6400] * 15, 4429),
    "ping flood": ([START] + ['{"type": "ping"}'] * 300, 4429),
}


async def bad_session(url: str, msgs: list) -> int | None:
    try:
        async with websockets.connect(url, max_size=2**24) as ws:
            for m in msgs:
                await ws.send(m)
            return await asyncio.wait_for(closed_code(ws), 20)
    except websockets.ConnectionClosed as e:
        return e.rcvd.code if e.rcvd else None


def _ws_frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class NeverReader(threading.Thread):
    """A raw WebSocket client (tiny receive buffer) that streams audio in real time and
    never reads a frame: only the send timeout can catch it (it is never idle)."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.s = socket.socket()
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.s.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.s.recv(1)
        self.s.sendall(_ws_frame(1, b'{"type": "start", "format": "rgb"}'))
        self.started_at = time.monotonic()
        self.stop = threading.Event()
        self.start()

    def run(self) -> None:
        chunk = _ws_frame(2, b"\0" * (2 * CHUNK))
        while not self.stop.wait(CHUNK / SR):
            try:
                self.s.sendall(chunk)
            except OSError:  # the server closed us
                return

    def close(self) -> None:
        self.stop.set()
        self.s.close()


def wait_for(srv: Server, ok, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        h = srv.health()
        if ok(h) or time.monotonic() > deadline:
            return h
        time.sleep(0.2)


async def one_round(srv: Server, args, speech, report: dict) -> None:
    t0 = time.monotonic()
    outcomes = Counter()
    ways = ["stop", "close", "abort", "stop"]
    for w0 in range(0, args.churn, args.max_sessions):
        wave = range(w0, min(args.churn, w0 + args.max_sessions))
        for r in await asyncio.gather(*(normal_session(srv.url, speech, ways[k % 4], k * 3331) for k in wave)):
            outcomes[r] += 1
        print(f"  wave {w0 // args.max_sessions}: {dict(outcomes)}", flush=True)
        wait_for(srv, lambda h: h["slots"] == 0, 10)  # the aborted ones free their slots
    report["churn"] = {"sessions": args.churn, "outcomes": dict(outcomes), "seconds": round(time.monotonic() - t0, 1),
                       "health": srv.health()}
    bad = {}
    for name, (msgs, want) in BAD.items():
        got = await asyncio.gather(*(bad_session(srv.url, msgs) for _ in range(args.max_sessions)))
        bad[name] = {"expected": want, "got": dict(Counter(got))}
    report["bad"] = bad
    held = []
    for _ in range(args.max_sessions):
        ws = await websockets.connect(srv.url)
        await ws.send(START)
        await ws.recv()
        held.append(ws)
    refused = await asyncio.gather(*(bad_session(srv.url, [START]) for _ in range(10)))
    for ws in held:
        await ws.send('{"type": "stop"}')
        await closed_code(ws)
    report["overflow"] = {"held": args.max_sessions, "refused": dict(Counter(refused))}
    wait_for(srv, lambda h: h["slots"] == 0, 10)
    before = srv.health()["closed"].get("4504", 0)
    t_stuck = time.monotonic()
    stuck = [NeverReader(srv.port) for _ in range(8)]
    h = wait_for(srv, lambda h: h["closed"].get("4504", 0) >= before + 8, 120)
    report["never_reading"] = {"clients": 8, "closed_4504": h["closed"].get("4504", 0) - before,
                               "seconds_to_close_all": round(time.monotonic() - t_stuck, 1)}
    for s in stuck:
        s.close()


async def main_async(srv: Server, args) -> dict:
    speech = read_speech()
    report: dict = {}
    await normal_session(srv.url, speech, "stop")
    await asyncio.sleep(2)
    base = srv.health()
    report["baseline"] = base
    report["rounds"] = []
    for _ in range(args.rounds):
        r: dict = {}
        await one_round(srv, args, speech, r)
        wait_for(srv, lambda h: h["sessions"] == 0 and h["slots"] == 0 and h["tasks"] <= base["tasks"], 30)
        await asyncio.sleep(3)
        r["health"] = srv.health()
        report["rounds"].append(r)
    settled = wait_for(srv, lambda h: h["sessions"] == 0 and h["slots"] == 0 and h["tasks"] <= base["tasks"], 30)
    await asyncio.sleep(3)
    after = srv.health()
    report["after"] = after
    report["still_serving"] = await normal_session(srv.url, speech, "stop")
    report["leaks"] = {"sessions": after["sessions"], "slots": after["slots"],
                       "tasks": after["tasks"] - base["tasks"], "threads": after["threads"] - base["threads"],
                       "rss_mb": round(after["rss_mb"] - base["rss_mb"], 1), "settled": settled["sessions"] == 0}
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("avatar")
    ap.add_argument("--cache", default=None)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--churn", type=int, default=200)
    ap.add_argument("--max-sessions", type=int, default=8, help="the server's; churn waves are this wide")
    ap.add_argument("--rounds", type=int, default=2, help="the phases again: memory after each round")
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--log", type=Path, default=None)
    args = ap.parse_args()
    srv = Server(args.avatar, cache=args.cache, device=args.device, log=args.log,
                 extra=["--max-sessions", str(args.max_sessions), "--send-timeout", "2", "--idle-timeout", "10"])
    try:
        report = asyncio.run(main_async(srv, args))
        report["server_alive"] = srv.proc.poll() is None
    finally:
        code = srv.close()
    report["server_exit"] = code
    args.json.write_text(json.dumps(report, indent=1))
    b, a = report["baseline"], report["after"]
    for k, rnd in enumerate(report["rounds"], 1):
        print(f"round {k}: churn: {rnd['churn']['outcomes']} in {rnd['churn']['seconds']} s")
        for name, r in rnd["bad"].items():
            print(f"  bad: {name}: expected {r['expected']}, got {r['got']}")
        print(f"  overflow: refused {rnd['overflow']['refused']}; never reading: {rnd['never_reading']}")
    print(f"still serving: {report['still_serving']}; server alive: {report['server_alive']}")
    print("| | sessions | tasks | threads | RSS (MB) |\n|---|---:|---:|---:|---:|")
    print(f"| baseline | {b['sessions']} | {b['tasks']} | {b['threads']} | {b['rss_mb']:.0f} |")
    for k, rnd in enumerate(report["rounds"], 1):
        h = rnd["health"]
        print(f"| after round {k} | {h['sessions']} | {h['tasks']} | {h['threads']} | {h['rss_mb']:.0f} |")
    print(f"| after (settled) | {a['sessions']} | {a['tasks']} | {a['threads']} | {a['rss_mb']:.0f} |")
    print(f"| peak during | {a['peak']} | | | |")


if __name__ == "__main__":
    main()
