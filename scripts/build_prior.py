"""Rebuild the person-independent prior shipped in avatarzoo/drivers/priors/.

    python scripts/build_prior.py --sources scripts/prior_sources.yaml --clips DIR [--work DIR]

`--sources` lists the recordings (name, file, person, licence, provenance); `--clips`
is the directory that holds the files. Each recording is ingested and tracked with the
built-in tracker (the same functions as the build's stages), its audio/video offset
estimated, and its aligned pairs built on the whole clip; the prior is fitted on all of
them with the default `tcn` driver config (drivers/prior.py: `fit_prior`) and written
with a model card naming every recording. Only recordings whose licence lets a model
fitted on them ship (public domain, or an open licence) may be listed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import yaml


def prepare(video: Path, work: Path, size: int = 256):
    """Ingest + track `video` into `work` once (reused when already there)."""
    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.contracts.tracking import Tracking
    from avatarzoo.ingest.stage import ingest_recording
    from avatarzoo.recipe.models import CropConfig, MediapipeTrackerConfig, RecordingConfig
    from avatarzoo.trackers.stage import track_ingested

    if not (work / "track" / "tracking.safetensors").is_file():
        rec = RecordingConfig(video=video.name, crop=CropConfig(size=size), holdout=0.0)
        ingest_recording(video, work / "ingest", recording=rec)
        track_ingested(work / "ingest", work / "track", config=MediapipeTrackerConfig())
    return IngestOutput.open(work / "ingest"), Tracking.load(work / "track" / "tracking.safetensors")


def recording_pairs_for_prior(ingest, tracking, extractor, cfg, channels):
    """The whole clip's aligned pairs on `channels`, and its offset estimate."""
    from avatarzoo.drivers.data import recording_pairs
    from avatarzoo.drivers.stage import TYPICAL_OFFSET_S
    from avatarzoo.drivers.sync import estimate_offset

    info = ingest.info
    audio = np.asarray(ingest.audio(), np.float32)
    est = estimate_offset(tracking.expression[:, tracking.space.channel("mouth_open")].astype(np.float64), audio,
                          fps=info.fps, audio_offset=info.audio.offset)
    offset = est.seconds if est.clear else TYPICAL_OFFSET_S
    pairs, _ = recording_pairs(audio, info.audio.offset, ingest.time, tracking.expression[:, channels],
                               tracking.valid, info.n_frames, extractor, av_offset=offset,
                               lookahead=int(round(cfg.lookahead_ms / 10)))
    return pairs, est, offset


def main(argv=None) -> int:
    import torch
    from safetensors.torch import save_file

    from avatarzoo.drivers.prior import (
        PRIOR_BATCH, PRIOR_DIR, PRIOR_DRAWS, PRIOR_STEPS, fit_prior, join_draws, prior_channels, prior_name,
    )
    from avatarzoo.recipe.drivers import TcnDriverConfig
    from avatarzoo.spaces import get_space

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", type=Path, required=True)
    ap.add_argument("--clips", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("/tmp/avatarzoo-prior"))
    ap.add_argument("--out", type=Path, default=PRIOR_DIR)
    ap.add_argument("--draws", type=int, default=PRIOR_DRAWS,
                    help="fits from seeds seed, seed + 1, ... (an avatar's driver adapts one net from each)")
    args = ap.parse_args(argv)
    if args.draws < 1:
        ap.error(f"--draws: expected at least 1, got {args.draws}")

    sources = yaml.safe_load(args.sources.read_text())["recordings"]
    bad = [s["name"] for s in sources if s["licence_class"] not in ("public-domain", "open")]
    if bad:
        print(f"refusing {bad}: a shipped prior may be fitted on public-domain or openly licensed speech only")
        return 2
    cfg = TcnDriverConfig()
    torch.set_num_threads(1)  # the same bytes every run
    space = get_space(cfg.space)
    channels = prior_channels(space)
    extractor = cfg.features.registered.load("extractor").from_config(cfg.features)
    pairs, recordings = [], []
    for s in sources:
        ingest, tracking = prepare(args.clips / s["file"], args.work / s["name"])
        p, est, used = recording_pairs_for_prior(ingest, tracking, extractor, cfg, channels)
        pairs.append(p)
        recordings.append({**s, "seconds": round(len(p) / 100, 2), "av_offset_ms": round(est.ms, 1),
                           "av_offset_clear": bool(est.clear), "offset_used_ms": round(used * 1000, 1)})
        print(f"{s['name']}: {len(p) / 100:.1f} s, offset {est.ms:.0f} ms ({'clear' if est.clear else 'unclear'})",
              flush=True)
    seeds = [cfg.seed + k for k in range(args.draws)]
    nets = []
    for k, seed in enumerate(seeds):
        print(f"draw {k + 1} of {len(seeds)} (seed {seed})", flush=True)
        nets.append(fit_prior(pairs, space, cfg, seed=seed, log=lambda m: print(m, flush=True)))
    net = nets[0]
    name = prior_name(space.name, cfg.features.kind)
    args.out.mkdir(parents=True, exist_ok=True)
    draws = [{k: v.detach().float().contiguous() for k, v in n.state_dict().items()} for n in nets]
    save_file(join_draws(draws), str(args.out / f"{name}.safetensors"), metadata={"avatarzoo.prior": name})
    config = {
        "space": space.name,
        "features": cfg.features.model_dump(mode="json"),
        "net": {"features": net.shape.features, "hidden": net.shape.hidden, "layers": net.shape.layers,
                "kernel": net.shape.kernel, "outputs": net.shape.outputs, "lookahead": net.shape.lookahead},
        "channels": [space.channels[c] for c in channels],
        "recordings": recordings,
        "fit": {"steps": PRIOR_STEPS, "batch_size": PRIOR_BATCH, "window_s": cfg.window_s, "seeds": seeds},
        "script": "scripts/build_prior.py",
    }
    (args.out / f"{name}.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    (args.out / f"{name}.md").write_text(card(name, config))
    print(f"wrote {args.out / name}.{{safetensors,json,md}}")
    return 0


def card(name: str, config: dict) -> str:
    rows = "\n".join(
        f"| {r['name']} | {r['person']} | {r['seconds']} s | {r['offset_used_ms']:.0f} ms | {r['licence']} | {r['provenance']} |"
        for r in config["recordings"])
    total = sum(r["seconds"] for r in config["recordings"])
    return f"""# Prior `{name}`: person-independent speech → face ({config['space']})

A causal temporal convolution net (hidden {config['net']['hidden']}, {config['net']['layers']} blocks,
lookahead {config['net']['lookahead'] * 10} ms), {len(config['fit']['seeds'])} draws of it (the same fit
from seeds {config['fit']['seeds']}: an avatar's driver adapts one net from each and averages them), from
{config['features']['kind']} features
({config['features']}) to the z-scored channels of the speech regions of `{config['space']}`:
{', '.join(config['channels'])}. Every avatar's `tcn` driver with these settings starts from it
and adapts to its own recording (avatarzoo/drivers/fitting.py).

Fitted on {len(config['recordings'])} recordings, {total:.0f} s of speech in all, each aligned by its own
audio/video offset:

| recording | person | speech | offset | licence | provenance |
|---|---|---|---|---|---|
{rows}

Every recording is public domain (works of the US federal government) or openly licensed;
the recordings themselves are not shipped. Rebuild: `python {config['script']} --sources
scripts/prior_sources.yaml --clips DIR` with the files in DIR.

Limits: {len(config['recordings'])} recordings of {len({r['person'] for r in config['recordings']})} people, all English,
all formal addresses to a camera: it has not heard other languages, conversation, shouting or
singing; the avatar's own recording adapts it.
"""


if __name__ == "__main__":
    sys.exit(main())
