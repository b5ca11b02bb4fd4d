"""Reenactment (issue 12): other people's recordings drive the demo avatar; the output is
re-tracked and each region's channels correlated with the driver's.

    .venv/bin/python benchmarks/reenact.py [--profile cpu-tiny] [--cache DIR] [--device cpu|cuda]
        [--clips /work/extdata/clips] [--drivers reagan german lieu] [--scales region channel]
        [--show reagan] [--docs docs] [--max-seconds S]

Self-contained: builds the recipe (`avatarzoo build`, cached in --cache), loads the
bundle on --device, then for each driver clip CLIPS/NAME.mp4:

1. `avatar.reenact(clip)` (ingest + track the driver at the avatar's fps, transfer,
   render), timed: tracking, transfer, render;
2. the rendered frames re-tracked as a new face (the tracker fits the output's own
   neutral and head-rotation coupling, as it did the driver's) and, for amplitudes, in
   the avatar's own units (`drive.offline.track_as` with the avatar's track-stage
   tracking as the reference); per region the headline channels (evaluate/fidelity.py:
   blink L/R, brow raise L/R, mouth_open, jaw_open) correlated with the driver's own
   tracking; head yaw and pitch (degrees, `head_angles`) likewise. At the first scale,
   a control: the same head motion with the expression frozen at the avatar's neutral
   (what the correlations owe to head motion leaking into the re-tracked channels);
3. amplitude: the robust range (99th − 1st percentile) of the mapped codes ("mapped")
   and of the re-tracked output ("re-tracked") over the avatar's own training range;
4. self-driving: the held-out frames with the avatar as its own driver, PSNR against
   the recording vs `avatarzoo render`'s: from the stored tracking, and re-tracked
   (`track_as`, head and torso flows on the held-out frames alone: started from one of
   them, and from the avatar's neutral render, `Anchor.of_avatar`), with the parts;
5. the live form: `ReenactSession.push` on the first driver's frames as decoded (any
   size), frames/s;
6. with --show NAME (a public-domain clip): docs/reenact-NAME.png (driver above avatar,
   the driver's most expressive frames), docs/reenact-NAME.mp4 (driver | avatar, the
   first --show-seconds) and docs/reenact-channels.png (driver vs re-tracked channels).

Prints markdown tables; writes every number to WORK/reenact.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
REGIONS = ("eyes", "brows", "mouth", "jaw")
LABEL = {"eyes": "blink", "brows": "brows", "mouth": "mouth", "jaw": "jaw"}


def build(recipe: Path, profile: str, cache: Path, device: str) -> dict[str, Path]:
    from avatarzoo.recipe import load_recipe
    from avatarzoo.stages.build import build as run_build
    from avatarzoo.stages.cache import StageCache

    lr = load_recipe(recipe, profile=profile)
    return run_build(lr, StageCache.open(cache), device=device, echo=lambda *_: None)


def rng(x: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(np.asarray(x, np.float64), (1, 99), axis=0)
    return hi - lo


def pearson(a, b) -> float:
    from avatarzoo.evaluate.fidelity import pearson as p

    return p(np.asarray(a, np.float64), np.asarray(b, np.float64))


def render_all(avatar, t, batch: int = 8) -> np.ndarray:
    from avatarzoo.drive.offline import render_transfer

    return np.stack(list(render_transfer(avatar, t, batch=batch)))


def avatar_median(avatar) -> np.ndarray:
    return avatar.bundle.tensors("tracking.")["expression_median"].cpu().numpy()


def measure_driver(avatar, ref, train: np.ndarray, clip: Path, scale: str, device: str,
                   frozen: bool = False, max_frames: int | None = None) -> tuple[dict, dict]:
    """(numbers, arrays for the previews) of one driver clip at one scale; `frozen`
    adds the control: the same head motion with the expression held at the neutral."""
    import dataclasses

    from avatarzoo.drive.offline import track_as
    from avatarzoo.evaluate.fidelity import headline_channels
    from avatarzoo.trackers.headpose import head_angles
    from avatarzoo.trackers.mediapipe import track_frames

    r = avatar.reenact(clip, scale=scale)
    t, d = r.transfer, r.driver.tracking
    if max_frames and len(t) > max_frames:  # calibrated on the whole clip, measured on its start
        t = dataclasses.replace(t, **{k: getattr(t, k)[:max_frames] for k in
                                      ("expression", "pose", "body", "expression_clamped", "head_clamped")})
        d = d.replace(**{k: getattr(d, k)[:max_frames] for k in ("expression", "pose", "landmarks", "body",
                                                                 "valid", "time")}, extras={})
    started = time.perf_counter()
    frames = render_all(avatar, t)
    if device == "cuda":
        import torch

        torch.cuda.synchronize()
    render_s = time.perf_counter() - started
    rt = track_as(ref, frames, fps=avatar.fps)  # the avatar's units
    fresh = track_frames(iter(frames), fps=avatar.fps)  # as a new face, as the driver was tracked
    control = None
    if frozen:  # the same head motion, the expression frozen at the avatar's neutral
        still = dataclasses.replace(t, expression=np.broadcast_to(avatar_median(avatar),
                                                                   t.expression.shape).copy())
        control = track_frames(iter(render_all(avatar, still)), fps=avatar.fps)
    space = avatar.space
    head = headline_channels(space)
    train_rng = rng(train)
    n_clamped = int((t.expression_clamped.any(1) | t.head_clamped).sum())
    out = {"driver": clip.stem, "frames": len(t), "seconds": len(t) / avatar.fps, "scale": scale,
           "clamped": n_clamped, "clamped_summary": r.transfer.clamped.summary(),
           "retracked_face_found": float(rt.valid.mean()), "regions": {}}
    ok = rt.valid & d.valid & fresh.valid

    def corr(x, idx) -> float:
        return float(np.mean([pearson(d.expression[ok, i], x.expression[ok, i]) for i in idx]))

    for region in REGIONS:
        idx = head[region]
        out["regions"][region] = {
            "corr": corr(fresh, idx), "corr_avatar_units": corr(rt, idx),
            "corr_frozen": None if control is None else corr(control, idx),
            "amp_mapped": float(np.mean([rng(t.expression[:, i]) / train_rng[i] for i in idx])),
            "amp_retracked": float(np.mean([rng(rt.expression[ok, i]) / train_rng[i] for i in idx])),
        }
    ad, ar = head_angles(d.pose[ok]), head_angles(rt.pose[ok])
    for k, name in ((1, "yaw"), (0, "pitch")):
        out["regions"][name] = {"corr": pearson(ad[:, k], ar[:, k]),
                                "amp_retracked": float(ar[:, k].std() / max(ad[:, k].std(), 1e-9)),
                                "driver_std_deg": float(ad[:, k].std())}
    out["timing"] = {"track_s": r.seconds["track"], "transfer_s": r.seconds["transfer"], "render_s": render_s}
    return out, {"frames": frames, "driver": d, "retracked": rt, "transfer": t}


def self_drive(avatar, ref, ingest) -> dict:
    """PSNR of the held-out renders through reenactment vs `avatarzoo render`'s."""
    import torch

    from avatarzoo.drive.offline import Anchor, track_as
    from avatarzoo.drive.stats import AvatarStats, DriverStats
    from avatarzoo.image_metrics import psnr

    h = ingest.info.holdout_start
    held = np.array(ingest.frames[h:])
    masks = np.array(ingest.masks[h:]) if ingest.masks is not None else None

    def score(e, p, b) -> float:
        x = torch.as_tensor(avatar.render(e, p, b), dtype=torch.float32).permute(0, 3, 1, 2) / 255
        y = torch.as_tensor(held, dtype=torch.float32).permute(0, 3, 1, 2) / 255
        return float(psnr(x, y).mean())

    cal = DriverStats.of_avatar(AvatarStats.from_bundle(avatar.bundle))
    demo = {k: avatar.bundle.tensors("demo.")[k].cpu().numpy() for k in ("expression", "pose", "body")}
    render_db = score(demo["expression"], demo["pose"], demo["body"])
    stored = ref.replace(expression=ref.expression[h:], pose=ref.pose[h:], landmarks=ref.landmarks[h:],
                         body=ref.body[h:], valid=ref.valid[h:], time=ref.time[h:], extras={})
    out = {"frames": len(held), "render_db": render_db}
    anchor = Anchor.of_avatar(avatar)  # both flows started from the avatar's own neutral render
    for name, tr in (("stored", stored), ("retracked", track_as(ref, held, fps=avatar.fps, masks=masks)),
                     ("retracked_anchored", track_as(ref, held, fps=avatar.fps, masks=masks, anchor=anchor))):
        t = avatar.reenact(tr, calibration=cal, body="driver").transfer
        out[name] = {
            "reenact_db": score(t.expression, t.pose, t.body) - render_db,
            "tracked_inputs_db": score(tr.expression, tr.pose, tr.body) - render_db,
            "only_its_pose_db": score(demo["expression"], tr.pose, demo["body"]) - render_db,
            "only_its_body_db": score(demo["expression"], demo["pose"], tr.body) - render_db,
            "body_px": float(np.abs(tr.body - demo["body"]).mean()),
            "clamped": t.clamped.summary(),
        }
    return out


def live_speed(avatar, clip: Path, n: int = 150) -> dict:
    """ReenactSession.push frames/s on the clip's frames as decoded."""
    import av

    frames = []
    with av.open(str(clip)) as c:
        for f in c.decode(video=0):
            frames.append(f.to_ndarray(format="rgb24"))
            if len(frames) >= n:
                break
    with avatar.reenact_live() as s:
        started = time.perf_counter()
        out = [s.push(f) for f in frames]
        seconds = time.perf_counter() - started
    return {"frames": len(frames), "size": list(frames[0].shape[:2]), "fps": len(frames) / seconds,
            "calibrating_frames": sum(f.calibrating for f in out), "faces": s.stats.faces}


def previews(name: str, arrays: dict, clip: Path, avatar, docs: Path, seconds: float) -> list[Path]:
    """Contact sheet, side-by-side video and channel plot for the public-domain driver."""
    import cv2

    from avatarzoo.drive.offline import _beside
    from avatarzoo.evaluate.plot import GT, LIVE, Panel, Series, draw_panels
    from avatarzoo.evaluate.sheet import contact_sheet
    from avatarzoo.media import write_video

    def write_png(path: Path, image: np.ndarray) -> None:
        cv2.imwrite(str(path), np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 9])

    docs.mkdir(parents=True, exist_ok=True)
    d, rt, frames = arrays["driver"], arrays["retracked"], arrays["frames"]
    space = avatar.space
    # the driver's frames again, as the tracker saw them (the ingest crop at 256)
    import tempfile

    from avatarzoo.drive.offline import track_video

    with tempfile.TemporaryDirectory() as tmp:
        drv = track_video(clip, fps=avatar.fps, work=Path(tmp))
        crop = np.array(drv.frames[:len(frames)])
    size = avatar.size
    picks = []
    for ch in ("mouth_open", "blink_left", "brow_raise_left"):
        v = d.expression[:len(frames), space.channel(ch)]
        picks += [int(np.argmax(v)), int(np.argmin(v))]
    picks = sorted(set(picks))[:8]
    small = np.stack([cv2.resize(crop[k], (size, size), interpolation=cv2.INTER_AREA) for k in picks])
    sheet = contact_sheet(small, frames[picks], [f"#{k}" for k in picks], tile=min(160, size))
    sheet_path = docs / f"reenact-{name}.png"
    write_png(sheet_path, sheet)
    n = int(round(seconds * avatar.fps))
    video_path = docs / f"reenact-{name}.mp4"
    audio = None if drv.audio is None else drv.audio[:int(n / avatar.fps * 16000)]
    write_video(video_path, _beside(crop[:n], iter(frames[:n]), size), fps=avatar.fps, audio=audio, crf=26)
    panels = []
    for ch in ("blink_left", "brow_raise_left", "mouth_open", "jaw_open"):
        i = space.channel(ch)
        panels.append(Panel(title=f"{ch}: driver (its own units) vs the avatar re-tracked (the avatar's)",
                            series=[Series("driver", d.expression[:len(frames), i], GT),
                                    Series("avatar, re-tracked", np.where(rt.valid, rt.expression[:, i], np.nan),
                                           LIVE)]))
    chan_path = docs / "reenact-channels.png"
    write_png(chan_path, draw_panels(panels))
    return [sheet_path, video_path, chan_path]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", type=Path, default=ROOT / "recipes" / "demo-v1.yaml")
    ap.add_argument("--profile", default="cpu-tiny")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/avatarzoo-reenact"))
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--clips", type=Path, default=Path("/work/extdata/clips"))
    ap.add_argument("--drivers", nargs="+", default=["reagan", "german", "lieu"])
    ap.add_argument("--scales", nargs="+", default=["region", "channel"])
    ap.add_argument("--show", default=None, help="a public-domain driver whose frames may be shown in --docs")
    ap.add_argument("--show-seconds", type=float, default=4.0)
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="render and measure only each clip's first seconds (slow renderers); calibrated on all")
    ap.add_argument("--docs", type=Path, default=ROOT / "docs")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)

    import avatarzoo
    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.contracts.tracking import Tracking

    started = time.perf_counter()
    outputs = build(args.recipe, args.profile, args.cache, args.device)
    print(f"build (cached or not): {time.perf_counter() - started:.1f} s")
    avatar = avatarzoo.load(outputs["package"] / "bundle", device=args.device)
    ref = Tracking.load(outputs["track"] / "tracking.safetensors")
    ingest = IngestOutput.open(outputs["ingest"])
    h = ingest.info.holdout_start
    train = ref.expression[:h][ref.valid[:h]]
    report = {"avatar": avatar.id, "profile": args.profile, "size": avatar.size, "device": args.device,
              "drivers": [], "evaluate": (avatar.bundle.config.get("metrics") or {}).get("headline", {})}
    keep = {}
    for name in args.drivers:
        for scale in args.scales:
            numbers, arrays = measure_driver(avatar, ref, train, args.clips / f"{name}.mp4", scale, args.device,
                                             frozen=scale == args.scales[0],
                                             max_frames=int(args.max_seconds * avatar.fps) if args.max_seconds else None)
            report["drivers"].append(numbers)
            if scale == args.scales[0]:
                keep[name] = arrays
            print(json.dumps(numbers))
    report["self_drive"] = self_drive(avatar, ref, ingest)
    report["live"] = live_speed(avatar, args.clips / f"{args.drivers[0]}.mp4")
    if args.show:
        report["previews"] = [str(p) for p in previews(args.show, keep[args.show], args.clips / f"{args.show}.mp4",
                                                       avatar, args.docs, args.show_seconds)]
    (args.cache / "reenact.json").write_text(json.dumps(report, indent=1))
    print_tables(report)


def print_tables(r: dict) -> None:
    print(f"\navatar {r['avatar']} ({r['profile']}, {r['size']}², {r['device']})\n")
    cols = [*REGIONS, "yaw", "pitch"]
    print("corr: the output re-tracked as a new face (avatar units in brackets; the frozen-expression control "
          "after 'ctl'); amp: range (99th − 1st percentile) over the avatar's training range, of the mapped codes "
          "/ of the output re-tracked in avatar units\n")
    print("| driver | s | scale | " + " | ".join(f"{LABEL.get(c, c)} corr (avatar units) [ctl] · amp mapped / re-tracked"
                                              if c in REGIONS else f"head {c} corr" for c in cols)
          + " | clamped frames |")
    print("|" + "---|" * (len(cols) + 4))
    for d in r["drivers"]:
        cells = []
        for c in cols:
            x = d["regions"][c]
            ctl = "" if x.get("corr_frozen") is None else f" [{x['corr_frozen']:.2f}]"
            cells.append(f"**{x['corr']:.2f}** ({x['corr_avatar_units']:.2f}){ctl} · {x['amp_mapped']:.2f} / "
                         f"{x['amp_retracked']:.2f}" if c in REGIONS else f"**{x['corr']:.2f}**")
        print(f"| {d['driver']} | {d['seconds']:.1f} | {d['scale']} | " + " | ".join(cells)
              + f" | {d['clamped']} of {d['frames']} |")
    e = r["evaluate"]
    if e:
        print("\nthe avatar's own held-out renders re-tracked (evaluate), corr / amp: "
              + ", ".join(f"{LABEL[g]} {e.get(g + '_corr', float('nan')):.2f} / {e.get(g + '_amplitude', float('nan')):.2f}"
                          for g in REGIONS))
    s = r["self_drive"]
    print(f"\nself-drive, {s['frames']} held-out frames, `render` {s['render_db']:.2f} dB:")
    for k in ("stored", "retracked", "retracked_anchored"):
        x = s[k]
        print(f"- {k}: reenact {x['reenact_db']:+.2f} dB (its inputs rendered directly {x['tracked_inputs_db']:+.2f}; "
              f"only its pose {x['only_its_pose_db']:+.2f}, only its body {x['only_its_body_db']:+.2f}, body off by "
              f"{x['body_px']:.2f} px); {x['clamped']}")
    print("\nthroughput (frames/s of the clip):")
    for d in r["drivers"]:
        t = d["timing"]
        n = d["frames"]
        total = t["track_s"] + t["transfer_s"] + t["render_s"]
        print(f"- {d['driver']} ({d['scale']}): track {n / t['track_s']:.1f}, transfer {n / max(t['transfer_s'], 1e-9):.0f}, "
              f"render {n / t['render_s']:.1f}, all {n / total:.1f}")
    lv = r["live"]
    print(f"- live ReenactSession.push on {lv['size'][1]}×{lv['size'][0]} frames: {lv['fps']:.1f} frames/s "
          f"({lv['calibrating_frames']} warm-up frames)")


if __name__ == "__main__":
    main()
