"""The person-independent prior: a `SpeechToFace` net fitted on several recordings of
several people, shipped in the package, that a new avatar's driver starts from.

It predicts the named channels of the speech regions (brows, mouth, jaw, cheeks) as
z-scores of each recording's own spread, so that it carries no one's amplitude: an
avatar's driver takes its trunk and those channels' rows of its head, the avatar's own
means and spreads, and fine-tunes on the avatar's recording (fitting.py).

It is shipped as several draws: the same fit from different seeds (its initial weights
and windows), because one draw's score on a new person moves by ±0.04 with the seed and
their average does not (BENCHMARKS.md, "Prior-fit variance"); an avatar's driver adapts
one net from each and averages them (model.NetEnsemble).

Files: `priors/<space>.<features kind>.safetensors` (draw k's tensors under `draw{k}.`;
a file without that prefix is one draw) and `.json` (net shape, feature config, channel
names, the recordings it was fitted on, their licence and provenance, the draws' seeds),
with a model card `.md` beside them. `scripts/build_prior.py` rebuilds them, the same
bytes every run.

Shapes: P prior channels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from avatarzoo.errors import BundleError

PRIOR_DIR = Path(__file__).resolve().parent / "priors"
PRIOR_REGIONS = ("brows", "mouth", "jaw", "cheeks")
PRIOR_STEPS, PRIOR_BATCH = 2000, 16  # more speech than one avatar's: more steps, larger batches
PRIOR_DRAWS = 4


@dataclass(frozen=True)
class Prior:
    name: str
    draws: list  # [K] of {str: torch.Tensor}: each draw's state dict
    config: dict  # the .json: net, features, channels, recordings

    @property
    def channels(self) -> list[str]:
        return list(self.config["channels"])


def prior_name(space: str, features_kind: str) -> str:
    return f"{space}.{features_kind}"


def prior_file(space: str, features_kind: str, directory: Path | None = None) -> Path:
    """The weights file of the shipped prior for this space and feature kind."""
    return (directory or PRIOR_DIR) / f"{prior_name(space, features_kind)}.safetensors"


def compatible(prior_config: dict, cfg) -> str | None:
    """None when a driver config `cfg` can start from this prior, else why not."""
    net = prior_config["net"]
    want = {"hidden": cfg.hidden, "layers": cfg.layers, "lookahead": int(round(cfg.lookahead_ms / 10))}
    diff = [f"{k} {net[k]} (recipe: {v})" for k, v in want.items() if net[k] != v]
    return f"the prior has {', '.join(diff)}" if diff else None


def find_prior(space: str, features: dict, directory: Path | None = None) -> Prior | None:
    """The shipped prior for this space and exactly these feature settings, or None."""
    from safetensors.torch import load_file

    name = prior_name(space, features["kind"])
    weights = prior_file(space, features["kind"], directory)
    meta = weights.with_suffix(".json")
    if not weights.is_file() or not meta.is_file():
        return None
    config = json.loads(meta.read_text())
    if config.get("features") != features or config.get("space") != space:
        return None
    try:
        tensors = load_file(str(weights))
    except Exception as e:  # a corrupt shipped file is an installation problem, said plainly
        raise BundleError(f"{weights}: the shipped prior cannot be read ({e}); reinstall avatarzoo") from None
    return Prior(name, split_draws(tensors), config)


def split_draws(tensors: dict) -> list[dict]:
    """A prior file's tensors -> one state dict per draw (`draw{k}.` prefixes, k = 0, 1,
    ...; tensors without the prefix are a single draw)."""
    if not any(k.startswith("draw") for k in tensors):
        return [tensors]
    draws: dict[int, dict] = {}
    for key, value in tensors.items():
        head, _, rest = key.partition(".")
        draws.setdefault(int(head[4:]), {})[rest] = value
    return [draws[k] for k in sorted(draws)]


def join_draws(draws: list[dict]) -> dict:
    """`split_draws`'s inverse: {f"draw{k}.{name}": tensor}."""
    return {f"draw{k}.{name}": t for k, d in enumerate(draws) for name, t in d.items()}


def prior_channels(space) -> list[int]:
    """The named channels of the speech regions: what a prior predicts."""
    return [i for r in PRIOR_REGIONS for i in space.regions.get(r, ())]


def fit_prior(pairs: list, space, cfg, *, seed: int | None = None, log=print, progress=lambda it, **kw: it):
    """A prior net fitted on several recordings' pairs (targets: `prior_channels`
    only, each recording z-scored by its own spread; the last 10% of each recording
    validates), from `seed` (default: the recipe's): one draw. Returns the net (outputs
    in z-score units)."""
    import numpy as np
    import torch

    from avatarzoo.drivers import fitting
    from avatarzoo.drivers.train import fit

    z = [fitting.standardised(p) for p in pairs]
    splits = [p.split(0.1) for p in z]
    seed = cfg.seed if seed is None else int(seed)
    torch.manual_seed(seed)  # before the net is made: its initial weights are drawn too
    net = fitting.new_net(cfg, pairs[0].features.shape[1], pairs[0].targets.shape[1])
    fitting.set_statistics(net, [t for t, _ in splits])
    with torch.no_grad():
        net.out_mean.zero_()
        net.out_std.fill_(1.0)
    cols = np.asarray(prior_channels(space))
    settings = fitting.settings(cfg, steps=PRIOR_STEPS)
    settings = type(settings)(**{**settings.__dict__, "batch_size": PRIOR_BATCH, "seed": seed})
    fit(net, [t for t, _ in splits], [v for _, v in splits], settings,
        channel_weight=fitting.channel_weights(space, cols), log=log, progress=progress)
    return net
