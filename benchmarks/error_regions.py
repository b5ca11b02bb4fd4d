"""Where a trained Gaussian avatar loses its PSNR: the squared error of its renders split
by image region, on held-out frames and on a sample of training frames.

    python benchmarks/error_regions.py RENDERER_DIR INGEST_DIR TRACK_DIR --out OUT
        [--device cuda] [--train-sample 50]

Regions (per frame, at the renderer's size): background (the ingest person mask below
0.5), face (the tracked landmarks' box), torso (person pixels below the chin plus a
margin), head (the rest of the person: hair, ears, neck). For each: PSNR inside the
region and its share of the full frame's squared error. The gap between training and
held-out frames separates what the model cannot represent from what does not
generalise. Writes OUT/regions.json and OUT/error_heldout.png (mean |error| per pixel,
the held-out frames, beside the mean frame).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

REGIONS = ("background", "face", "head", "torso")


def region_masks(mask: np.ndarray, landmarks: np.ndarray, s: int) -> dict[str, np.ndarray]:
    """Boolean [s, s] masks of the four regions (a partition of the frame).

    mask: [s, s] person probability in [0, 1]; landmarks: [L, 2+] px at s."""
    person = mask >= 0.5
    x0, y0 = np.floor(landmarks[:, :2].min(0)).astype(int).clip(0, s)
    x1, y1 = np.ceil(landmarks[:, :2].max(0)).astype(int).clip(0, s)
    face = np.zeros((s, s), bool)
    face[y0:y1, x0:x1] = True
    rows = np.arange(s)[:, None] >= y1 + int(0.04 * s)
    torso = person & rows & ~face
    head = person & ~face & ~torso
    return {"background": ~person & ~face, "face": face, "head": head, "torso": torso}


def accumulate(renderer, d: dict, frames: np.ndarray, device: str) -> tuple[dict, np.ndarray]:
    """Per-region squared-error sums and pixel counts over `frames`, and the mean
    absolute error image [s, s]."""
    import cv2

    s = renderer.size
    s0 = d["frames"].shape[1]
    sums = {r: 0.0 for r in REGIONS}
    counts = {r: 0 for r in REGIONS}
    abs_err = np.zeros((s, s), np.float64)
    for i0 in range(0, len(frames), 8):
        idx = frames[i0 : i0 + 8]
        t = lambda a: torch.as_tensor(np.ascontiguousarray(a[idx]), dtype=torch.float32, device=device)  # noqa: E731
        img = renderer.render_float(t(d["expression"]), t(d["pose"]), t(d["body"]), size=s)
        img = img.permute(0, 2, 3, 1).cpu().numpy().astype(np.float64)
        for j, i in enumerate(idx):
            gt = np.asarray(d["frames"][i])
            m = np.asarray(d["masks"][i]).astype(np.float64) / 255.0
            if s != s0:
                gt = cv2.resize(gt, (s, s), interpolation=cv2.INTER_AREA)
                m = cv2.resize(m, (s, s), interpolation=cv2.INTER_AREA)
            err = ((img[j] - gt / 255.0) ** 2).mean(-1)
            abs_err += np.abs(img[j] - gt / 255.0).mean(-1)
            for r, rm in region_masks(m, d["landmarks"][i] * (s / s0), s).items():
                sums[r] += float(err[rm].sum())
                counts[r] += int(rm.sum())
    return {"sums": sums, "counts": counts}, abs_err / len(frames)


def summarise(acc: dict) -> dict:
    total = sum(acc["sums"].values())
    pixels = sum(acc["counts"].values())
    out = {"full_psnr": round(10 * np.log10(pixels / total), 2)}
    for r in REGIONS:
        mse = acc["sums"][r] / max(acc["counts"][r], 1)
        out[r] = {"psnr": round(10 * np.log10(1 / mse), 2) if mse > 0 else None,
                  "share_of_error": round(acc["sums"][r] / total, 3),
                  "share_of_pixels": round(acc["counts"][r] / pixels, 3)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("renderer", type=Path)
    ap.add_argument("ingest", type=Path)
    ap.add_argument("track", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--train-sample", type=int, default=50)
    args = ap.parse_args()

    import cv2

    from avatarzoo.renderers.gaussian.runtime import GaussianRenderer
    from avatarzoo.renderers.gaussian.fitting import load_inputs

    args.out.mkdir(parents=True, exist_ok=True)
    d = load_inputs(args.ingest, args.track)
    renderer = GaussianRenderer.from_dir(args.renderer, args.device)
    n = len(d["frames"])
    hold = int(d["info"]["holdout_start"])
    sets = {"train": np.linspace(0, hold - 1, args.train_sample).astype(int),
            "heldout": np.arange(hold, n)}
    result, maps = {}, {}
    with torch.no_grad():
        for name, idx in sets.items():
            acc, maps[name] = accumulate(renderer, d, idx, args.device)
            result[name] = summarise(acc)
            print(name, json.dumps(result[name]), flush=True)
    (args.out / "regions.json").write_text(json.dumps(result, indent=2))
    s = renderer.size
    mean = np.mean([cv2.resize(np.asarray(d["frames"][i]), (s, s), interpolation=cv2.INTER_AREA)
                    for i in sets["heldout"]], 0).astype(np.uint8)
    heat = cv2.applyColorMap((np.clip(maps["heldout"] / 0.15, 0, 1) * 255).astype(np.uint8),
                             cv2.COLORMAP_INFERNO)
    cv2.imwrite(str(args.out / "error_heldout.png"),
                np.concatenate([cv2.cvtColor(mean, cv2.COLOR_RGB2BGR), heat], 1))


if __name__ == "__main__":
    main()
