"""Live latency and frame rate of `avatarzoo serve` with N concurrent sessions.

    .venv/bin/python benchmarks/serve_latency.py demo-v1 --cache CACHE --json out.json
    .venv/bin/python benchmarks/serve_latency.py ID --device cuda --sessions 1,4,16 --json gpu.json

Runs the real server (a subprocess on 127.0.0.1, uvicorn + the WebSocket protocol), then
for each N: N clients at once, each sending data/speech-espeak.wav (looped) in real-time
40 ms chunks for --seconds and reading every frame. Latency of a chunk: from sending it
to receiving the frame whose audio holds its first sample (`source` in the frame
header); the first --warmup seconds are left out. fps: frames received per second of
the measured span, per session. Prints a table last; writes JSON to --json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from pathlib import Path

import numpy as np
import websockets
from _serve_bench import CHUNK, SR, Server, frame_header, read_speech


async def session(url: str, speech: np.ndarray, seconds: float, warmup: float, offset: int) -> dict:
    n_chunks = int(seconds * SR / CHUNK)
    sent_at = np.zeros(n_chunks)
    lat, frames_t, dropped, dropped_at_warmup, done = [], [], 0, None, asyncio.Event()
    async with websockets.connect(url, max_size=2**24) as ws:
        await ws.send(json.dumps({"type": "start", "format": "jpeg"}))
        ready = json.loads(await ws.recv())
        assert ready["type"] == "ready", ready

        async def send():
            t0 = time.monotonic()
            for i in range(n_chunks):
                await asyncio.sleep(max(0.0, t0 + i * CHUNK / SR - time.monotonic()))
                j = (offset + i * CHUNK) % (len(speech) - CHUNK)
                await ws.send((speech[j:j + CHUNK] * 32767).astype("<i2").tobytes())
                sent_at[i] = time.monotonic()
            await asyncio.sleep(ready["latency_s"] + 0.5)
            done.set()
            await ws.send('{"type": "stop"}')

        sender = asyncio.ensure_future(send())
        t_first = None
        async for msg in ws:
            if isinstance(msg, str):
                continue
            now = time.monotonic()
            h = frame_header(msg)
            t_first = t_first or sent_at[0]
            if not done.is_set():
                frames_t.append(now)
            dropped = h["dropped"]
            if dropped_at_warmup is None and now - sent_at[0] >= warmup:
                dropped_at_warmup = dropped
            if h["source"]:
                a, b = h["source"]
                for i in range(-(-a // CHUNK), min(n_chunks, -(-b // CHUNK))):
                    if sent_at[i] and sent_at[i] - sent_at[0] >= warmup:
                        lat.append(now - sent_at[i])
        await sender
    span_t = np.array(frames_t)
    span_t = span_t[span_t - sent_at[0] >= warmup]
    fps = (len(span_t) - 1) / (span_t[-1] - span_t[0]) if len(span_t) > 1 else 0.0
    return {"latency_s": lat, "fps": fps, "dropped": dropped - (dropped_at_warmup or 0), "fps_target": ready["fps"], "size": ready["width"]}


async def run_n(url: str, n: int, speech, seconds: float, warmup: float) -> dict:
    rs = await asyncio.gather(*(session(url, speech, seconds, warmup, k * 7919 * CHUNK) for k in range(n)))
    lat = np.concatenate([r["latency_s"] for r in rs]) * 1000
    fps = np.array([r["fps"] for r in rs])
    return {"sessions": n, "size": rs[0]["size"], "fps_target": rs[0]["fps_target"],
            "latency_ms_median": float(np.median(lat)), "latency_ms_p99": float(np.percentile(lat, 99)),
            "latency_samples": int(len(lat)), "fps_mean": float(fps.mean()), "fps_min": float(fps.min()),
            "dropped_per_session": float(np.mean([r["dropped"] for r in rs]))}  # after the warm-up


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("avatar", help="an id (in --cache's store), a bundle directory or a Hub name")
    ap.add_argument("--cache", default=None)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--sessions", default="1,4,16", help="comma-separated N")
    ap.add_argument("--seconds", type=float, default=12.0, help="audio each session sends per N")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds left out at the start")
    ap.add_argument("--threads", type=int, default=1, help="the server's torch threads (--threads of serve)")
    ap.add_argument("--json", type=Path, required=True, help="write the results here")
    ap.add_argument("--log", type=Path, default=None, help="the server's log")
    args = ap.parse_args()
    ns = [int(x) for x in args.sessions.split(",")]
    speech = read_speech()
    srv = Server(args.avatar, cache=args.cache, device=args.device, log=args.log,
                 extra=["--max-sessions", str(max(ns)), "--threads", str(args.threads)])
    rows = []
    try:
        asyncio.run(run_n(srv.url, 1, speech, 3.0, 1.0))  # warm the server up
        for n in ns:
            rows.append(asyncio.run(run_n(srv.url, n, speech, args.seconds, args.warmup)))
            print(f"N={n}: {json.dumps(rows[-1])}", flush=True)
        health = srv.health()
    finally:
        srv.close()
    out = {"avatar": args.avatar, "device": args.device, "machine": platform.platform(),
           "cpus": __import__("os").cpu_count(), "seconds": args.seconds, "warmup": args.warmup,
           "date": time.strftime("%Y-%m-%d"), "health_after": health, "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1))
    print(f"\navatar {args.avatar} ({rows[0]['size']}², {rows[0]['fps_target']:g} fps target) on {args.device}")
    print("| sessions | latency median (ms) | latency p99 (ms) | fps per session (mean / min) | frames dropped per session (measured span) |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['sessions']} | {r['latency_ms_median']:.0f} | {r['latency_ms_p99']:.0f} | "
              f"{r['fps_mean']:.1f} / {r['fps_min']:.1f} | {r['dropped_per_session']:.0f} |")


if __name__ == "__main__":
    main()
