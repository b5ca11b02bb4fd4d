"""`avatarzoo serve` driven by a camera (`"drive": "video"`): round trip and frame rate.

    python benchmarks/serve_camera.py BUNDLE --video DRIVER.mp4 [--sessions 1 2 4] [--seconds 6]
        [--width 320] [--device cpu|cuda] [--sheet OUT.png] [--json OUT.json]

`avatarzoo serve BUNDLE` runs in a subprocess on 127.0.0.1 (`_serve_bench.Server`, as
serve_latency.py runs it); each session is a WebSocket client that plays DRIVER.mp4's frames as a webcam would, as 320 px JPEG
pictures, in lock step: a picture, then the frame that answers it (what the page does,
with at most two pictures in flight). Per session count: the round trip (picture sent →
its frame received: decode, face mesh, transfer, render, encode, both ways on loopback)
median / p90, frames per second per session, the warm-up (pictures until `calibrating`
ends) and the faces found. `--sheet`: the driver's pictures above the avatar's frames
(the first session, every 15th frame after the warm-up). `--fidelity`: the first
session's frames re-tracked as a new face and the driver's pictures tracked alike
(offline, the whole clip); per region the headline channels' correlation (issue 12's
measure: blink, brows, mouth, jaw; head yaw and pitch), over the frames after the
warm-up.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

from _serve_bench import Server


def pictures(video: Path, n: int, width: int) -> tuple[list[bytes], list[np.ndarray]]:
    import av
    import cv2

    jpegs, frames = [], []
    with av.open(str(video)) as c:
        for f in c.decode(video=0):
            rgb = f.to_ndarray(format="rgb24")
            h, w = rgb.shape[:2]
            small = cv2.resize(rgb, (width, round(width * h / w)), interpolation=cv2.INTER_AREA)
            jpegs.append(cv2.imencode(".jpg", small[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())
            frames.append(small)
            if len(jpegs) == n:
                break
    return jpegs, frames


def client(url: str, jpegs: list[bytes], out: dict) -> None:
    import cv2
    from websockets.sync.client import connect

    from avatarzoo.serve.protocol import decode_frame

    trips, headers, images = [], [], []
    with connect(url, max_size=2**22) as ws:
        ws.send(json.dumps({"type": "start", "drive": "video", "format": "jpeg"}))
        json.loads(ws.recv(timeout=60))
        t0 = time.perf_counter()
        for pic in jpegs:
            t = time.perf_counter()
            ws.send(pic)
            h, _, image = decode_frame(ws.recv(timeout=60))
            trips.append(time.perf_counter() - t)
            headers.append(h)
            images.append(image)
        wall = time.perf_counter() - t0
        ws.send('{"type": "stop"}')
        for _ in ws:
            pass
    warm = next((i for i, h in enumerate(headers) if not h.calibrating), len(headers))
    out.update(trips=trips, wall=wall, warm=warm, faces=sum(bool(h.face) for h in headers),
               images=[cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR)[..., ::-1] for b in images])


def fidelity(avatar, driver_frames: list[np.ndarray], out: dict) -> dict[str, float]:
    """Correlation of the driver's tracked channels with the avatar's frames re-tracked
    (both as new faces), per region; frames after the session's warm-up."""
    from reenact import LABEL  # region -> its name in issue 12's tables

    from avatarzoo.evaluate.fidelity import headline_channels, pearson
    from avatarzoo.trackers.headpose import head_angles
    from avatarzoo.trackers.mediapipe import track_frames

    d = track_frames(iter(driver_frames), fps=avatar.fps)
    r = track_frames(iter(out["images"]), fps=avatar.fps)
    ok = d.valid & r.valid
    ok[:out["warm"]] = False
    result = {}
    for region, idx in headline_channels(avatar.space).items():
        if region in LABEL:
            result[LABEL[region]] = float(np.mean([pearson(d.expression[ok, i].astype(np.float64),
                                                            r.expression[ok, i].astype(np.float64)) for i in idx]))
    ad, ar = head_angles(d.pose[ok]), head_angles(r.pose[ok])
    result["yaw"], result["pitch"] = pearson(ad[:, 1], ar[:, 1]), pearson(ad[:, 0], ar[:, 0])
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundle")
    ap.add_argument("--video", type=Path, required=True)
    ap.add_argument("--sessions", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sheet", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--fidelity", action="store_true")
    ap.add_argument("--log", type=Path, default=None, help="the server's output")
    args = ap.parse_args(argv)

    import avatarzoo

    avatar = avatarzoo.load(args.bundle)  # its fps, size and space (the server loads its own)
    jpegs, frames = pictures(args.video, int(args.seconds * avatar.fps), args.width)
    print(f"{avatar.id} {avatar.size}² on {args.device}; driver {args.video.name}: {len(jpegs)} pictures of "
          f"{frames[0].shape[1]}×{frames[0].shape[0]} px, {np.mean([len(j) for j in jpegs]) / 1024:.1f} KiB each")
    rows = []
    srv = Server(str(Path(args.bundle).resolve()), cache=None, device=args.device, log=args.log)
    try:
        for n in args.sessions:
            outs = [{} for _ in range(n)]
            threads = [threading.Thread(target=client, args=(srv.url, jpegs, o)) for o in outs]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            trips = np.concatenate([o["trips"][o["warm"]:] for o in outs]) * 1000
            fps = [len(o["trips"]) / o["wall"] for o in outs]
            row = dict(sessions=n, round_trip_median_ms=float(np.median(trips)),
                       round_trip_p90_ms=float(np.percentile(trips, 90)), fps_per_session=float(np.mean(fps)),
                       warmup_pictures=[o["warm"] for o in outs], faces=[o["faces"] for o in outs],
                       pictures=len(jpegs))
            rows.append(row)
            print(f"  {n} session(s): round trip median {row['round_trip_median_ms']:.1f} ms, p90 "
                  f"{row['round_trip_p90_ms']:.1f} ms; {row['fps_per_session']:.1f} frames/s a session; "
                  f"warm-up {row['warmup_pictures']} pictures; faces {row['faces']} of {len(jpegs)}", flush=True)
            if args.fidelity and n == args.sessions[0]:
                row["fidelity"] = fidelity(avatar, frames, outs[0])
                print("  re-tracked, after the warm-up: " + ", ".join(
                    f"{k} {v:.2f}" for k, v in row["fidelity"].items()), flush=True)
            if args.sheet and n == args.sessions[0]:
                import cv2

                o, s = outs[0], avatar.size
                sel = list(range(o["warm"], len(jpegs), 15))[:8]
                top = np.concatenate([cv2.resize(frames[i], (s * frames[i].shape[1] // frames[i].shape[0], s))
                                      [:, :s] for i in sel], 1)
                bottom = np.concatenate([o["images"][i] for i in sel], 1)
                cv2.imwrite(str(args.sheet), np.concatenate([top, bottom], 0)[..., ::-1])
                print(f"  sheet: {args.sheet}")
    finally:
        srv.close()
    if args.json:
        args.json.write_text(json.dumps({"bundle": str(args.bundle), "device": args.device, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
