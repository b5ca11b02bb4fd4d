"""What a re-tracked channel's miss is made of: lag, gain, or another channel's motion.

    python benchmarks/fidelity_residuals.py METRICS.json [METRICS.json ...] [--channels brow_raise_left ...]

Reads the evaluate stage's metrics.json (or gpu_fits.sh's, {NAME: {"metrics": ...}}),
whose `fidelity.curves` hold each headline channel re-tracked on the held-out recording
(`gt`) and on the live renders (`live`), and prints per channel: the correlation, the
least-squares slope of live on gt, the residual's std over gt's (what the slope leaves
unexplained), the residual's correlation with the other channels' gt (crosstalk: another
part's motion drawn into this one) and the correlation at lags −2..2 frames (a peak off 0:
the render leads or lags). No rendering: seconds on any machine.

Shapes: M held-out frames.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

OTHERS = ("blink_left", "blink_right", "gaze_y", "mouth_open", "jaw_open")


def lagged(gt: np.ndarray, live: np.ndarray, lag: int) -> float:
    """corr(gt[t], live[t + lag]) over the frames both have."""
    if lag >= 0:
        a, b = gt[:len(gt) - lag], live[lag:]
    else:
        a, b = gt[-lag:], live[:len(live) + lag]
    return float(np.corrcoef(a, b)[0, 1])


def residuals(curves: dict, channel: str) -> dict:
    """The row of one channel (module docstring)."""
    gt, live = (np.asarray(curves[channel][k], float) for k in ("gt", "live"))
    design = np.c_[gt, np.ones_like(gt)]
    coef, *_ = np.linalg.lstsq(design, live, rcond=None)
    r = live - design @ coef
    return {
        "corr": float(np.corrcoef(gt, live)[0, 1]), "slope": float(coef[0]),
        "residual_over_gt": float(r.std() / max(gt.std(), 1e-12)),
        "residual_with": {k: float(np.corrcoef(r, np.asarray(curves[k]["gt"], float))[0, 1])
                          for k in OTHERS if k in curves and k != channel},
        "lags": {lag: lagged(gt, live, lag) for lag in range(-2, 3)},
    }


def runs(path: Path) -> dict[str, dict]:
    """{name: metrics} from one evaluate metrics.json or a gpu_fits.sh metrics.json;
    refuses, by name, a file that is missing, is not JSON or holds no fidelity curves."""
    from avatarzoo.errors import InputError

    try:
        m = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read it as JSON ({type(e).__name__}: {e})") from None
    if not isinstance(m, dict):
        found = {}
    elif "fidelity" in m:  # one evaluate stage's
        found = {path.parent.name: m}
    else:  # gpu_fits.sh's: {NAME: {"spec": ..., "metrics": ... or null}}
        found = {name: v.get("metrics") for name, v in m.items() if isinstance(v, dict)}
    found = {name: r for name, r in found.items()
             if isinstance(r, dict) and isinstance((r.get("fidelity") or {}).get("curves"), dict)}
    if not found:
        raise InputError(f"{path}: no fidelity curves (an evaluate stage's metrics.json, or gpu_fits.sh's)")
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("metrics", type=Path, nargs="+")
    ap.add_argument("--channels", nargs="+", default=["brow_raise_left", "brow_raise_right"])
    args = ap.parse_args()
    for path in args.metrics:
        for name, m in runs(path).items():
            curves = m["fidelity"]["curves"]
            for ch in args.channels:
                if ch not in curves:
                    print(f"{path}: {name}: no curve for '{ch}' (channels: {', '.join(curves)})")
                    continue
                row = residuals(curves, ch)
                cross = " ".join(f"{k} {v:+.2f}" for k, v in row["residual_with"].items())
                lags = " ".join(f"{k:+d}:{v:.2f}" for k, v in row["lags"].items())
                print(f"{name:>12} {ch:<17} corr {row['corr']:.2f} slope {row['slope']:.2f} "
                      f"residual/gt {row['residual_over_gt']:.2f} | residual with {cross} | lags {lags}")


if __name__ == "__main__":
    from avatarzoo.cli import friendly  # a bad input: its message, no traceback

    friendly(main)()
