"""Lip sync at the expression level, cross-validated over whole recordings.

    python benchmarks/lipsync_cv.py --clips DIR NAME=FILE ... [--work DIR] [--out results.json]
        [--variants scratch,prior] [--set FIELD=VALUE ...]

`--set` overrides a field of the driver's recipe section (TcnDriverConfig), e.g.
`--set lookahead_ms=100 --set hidden=128`.

For each recording: 5 contiguous folds; each fold's frames are predicted from its
speech by a driver trained on the other 80% (a 0.5 s gap either side; the last 15% of
the training part validates and calibrates), and compared with the tracked expression:
mouth_open and jaw_open correlation and amplitude ratio (std predicted / std tracked),
at the video rate. Variants, each exactly what the fit_audio_driver stage does with
that recipe setting:
- `scratch`: features logmel, no prior, aligned by the recording's own offset;
- `scratch-unaligned`: the same with align: false (offset 0);
- `prior`: from the shipped prior (drivers/priors), adapted (recordings in the prior
  are skipped: it has heard them);
- `prior-zero`: the shipped prior without adaptation (only the avatar's own means and
  spreads);
- `phones`: pocketsphinx phone features, no prior.
Rendering and re-tracking (what the evaluate stage adds) are not in this number: see
BENCHMARKS.md for the builds that do them.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

VARIANTS = ("scratch", "scratch-unaligned", "prior", "prior-zero", "phones")


def folds(weight: np.ndarray, k: int = 5, gap: int = 50):
    """(train, validation, test) weight masks of k contiguous folds."""
    idx = np.flatnonzero(weight > 0)
    edges = np.linspace(idx[0], idx[-1] + 1, k + 1).astype(int)
    for i in range(k):
        a, b = edges[i], edges[i + 1]
        test = np.zeros(len(weight))
        test[a:b] = 1
        train = np.ones(len(weight))
        train[max(0, a - gap):b + gap] = 0
        t_idx = np.flatnonzero(train * (weight > 0))
        nv = int(0.15 * len(t_idx))
        before = t_idx[t_idx < a]
        v_idx = before[-nv:] if len(before) >= nv else t_idx[t_idx >= b][:nv]
        val = np.zeros(len(weight))
        val[v_idx] = 1
        yield train * (1 - val) * weight, val * weight, test * weight


def run_variant(variant: str, ingest, tracking, cfg, prior) -> dict:
    from avatarzoo.drivers import fitting
    from avatarzoo.drivers.data import Pairs, recording_pairs
    from avatarzoo.drivers.stage import TYPICAL_OFFSET_S
    from avatarzoo.drivers.sync import estimate_offset
    from avatarzoo.drivers.model import NetEnsemble
    from avatarzoo.drivers.train import calibrate, predict
    from avatarzoo.recipe.drivers import PhoneFeatures

    if variant == "phones":
        cfg = cfg.model_copy(update={"features": PhoneFeatures()})
    space, info = tracking.space, ingest.info
    audio = np.asarray(ingest.audio(), np.float32)
    est = estimate_offset(tracking.expression[:, space.channel("mouth_open")].astype(np.float64), audio,
                          fps=info.fps, audio_offset=info.audio.offset)
    offset = 0.0 if variant == "scratch-unaligned" else (est.seconds if est.clear else TYPICAL_OFFSET_S)
    channels = fitting.speech_channels(space)
    extractor = cfg.features.registered.load("extractor").from_config(cfg.features)
    pairs, _ = recording_pairs(audio, info.audio.offset, ingest.time, tracking.expression[:, channels],
                               tracking.valid, info.n_frames, extractor, av_offset=offset,
                               lookahead=int(round(cfg.lookahead_ms / 10)))
    cols = {n: int(np.flatnonzero(channels == space.channel(n))[0]) for n in ("mouth_open", "jaw_open")}
    scores: dict[str, list] = {n: [] for n in cols}
    for w_train, w_val, w_test in folds(pairs.weight):
        tr, va = (Pairs(pairs.features, pairs.activity, pairs.targets, w.astype(np.float32)) for w in (w_train, w_val))
        start = prior if variant.startswith("prior") else None
        nets, _ = fitting.start_nets(cfg, start, space, channels, tr, extractor.dim)
        if variant != "prior-zero":
            fitting.fit_nets(nets, cfg, space, channels, tr, va, from_prior=start is not None, log=lambda m: None)
        net = NetEnsemble(nets)
        gain = calibrate(net, va, np.arange(len(channels)))
        out = predict(net, pairs.features)
        mean = net.out_mean.numpy()
        out = mean + gain * (out - mean)
        at = np.flatnonzero(w_test > 0)[::4]  # the video rate: every 4th 10 ms frame
        for n, c in cols.items():
            y, p = pairs.targets[at, c], out[at, c]
            scores[n].append((float(np.corrcoef(p, y)[0, 1]), float(p.std() / y.std())))
    return {"offset_ms": round(1000 * offset, 1), "offset_estimate_ms": round(est.ms, 1), "clear": bool(est.clear),
            **{n: {"corr": round(float(np.mean([c for c, _ in v])), 3), "amplitude": round(float(np.mean([a for _, a in v])), 2)}
               for n, v in scores.items()}}


def main(argv=None) -> int:
    from build_prior import prepare

    from avatarzoo.drivers.prior import find_prior
    from avatarzoo.recipe.drivers import TcnDriverConfig

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recordings", nargs="+", help="NAME=FILE (FILE under --clips)")
    ap.add_argument("--clips", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("/tmp/avatarzoo-lipsync"))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="a TcnDriverConfig field for every variant (YAML value)")
    ap.add_argument("--prior-dir", type=Path, default=None,
                    help="the `prior` variants start from the prior in this directory (default: the shipped one)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    import yaml

    cfg = TcnDriverConfig(**{k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)})
    prior = find_prior(cfg.space, cfg.features.model_dump(mode="json"), args.prior_dir)
    in_prior = {r["file"] for r in prior.config["recordings"]} if prior else set()
    results = {}
    for item in args.recordings:
        name, file = item.split("=", 1)
        ingest, tracking = prepare(args.clips / file, args.work / name)
        results[name] = {}
        for v in args.variants.split(","):
            if v.startswith("prior") and (prior is None or file in in_prior):
                continue
            t = time.perf_counter()
            results[name][v] = {**run_variant(v, ingest, tracking, cfg, prior), "seconds": round(time.perf_counter() - t, 1)}
            print(name, v, json.dumps(results[name][v]), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
