"""Building and fitting the driver's net from a recipe config: the pieces the
`fit_audio_driver` stage and the prior's build script share.

Which channels speech drives: every channel of the space outside the `eyes` and `gaze`
regions (those are the recording's own life, life.py). Loss weights: mouth and jaw ×2
(what lip sync is judged on), the residual channels ×0.5 (per-subject PCA: partly
speech, partly everything else).

Shapes: S speech channels, P prior channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from avatarzoo.drivers.data import Pairs
from avatarzoo.drivers.model import NetShape, SpeechToFace
from avatarzoo.drivers.train import FitSettings
from avatarzoo.spaces.space import ExpressionSpace

if TYPE_CHECKING:
    from avatarzoo.drivers.prior import Prior

LIFE_REGIONS = ("eyes", "gaze")
KERNEL = 3


def life_channels(space: ExpressionSpace) -> np.ndarray:
    return np.asarray(sorted(i for r in LIFE_REGIONS for i in space.regions.get(r, ())), np.int64)


def speech_channels(space: ExpressionSpace) -> np.ndarray:
    life = set(life_channels(space).tolist())
    return np.asarray([i for i in range(space.dim) if i not in life], np.int64)


def channel_weights(space: ExpressionSpace, channels: np.ndarray) -> np.ndarray:
    weight = {i: 2.0 for r in ("mouth", "jaw") for i in space.regions.get(r, ())}
    weight.update({i: 0.5 for i in space.regions.get("residual", ())})
    return np.asarray([weight.get(int(c), 1.0) for c in channels], np.float32)


def new_net(cfg, features: int, outputs: int) -> SpeechToFace:
    """A fresh net shaped by the recipe's driver config `cfg`."""
    shape = NetShape(features=features, hidden=cfg.hidden, layers=cfg.layers, kernel=KERNEL,
                     outputs=outputs, lookahead=int(round(cfg.lookahead_ms / 10)))
    return SpeechToFace(shape, dropout=cfg.dropout)


def settings(cfg, *, steps: int | None = None, lr: float | None = None) -> FitSettings:
    return FitSettings(steps=steps or cfg.steps, batch_size=cfg.batch_size, window=int(round(cfg.window_s * 100)),
                       lr=lr or cfg.lr, seed=cfg.seed, checkpoint_every=cfg.checkpoint_every)


def set_statistics(net: SpeechToFace, pairs: Sequence[Pairs], *, inputs: bool = True) -> None:
    """Standardise the net's inputs (unless `inputs` is False: a prior's trunk keeps its
    own) and outputs with the weighted frames of `pairs`."""
    f = np.concatenate([p.features[p.weight > 0] for p in pairs])
    y = np.concatenate([p.targets[p.weight > 0] for p in pairs])
    if len(y) < 2:
        raise ValueError("set_statistics: fewer than two training frames with targets")
    with torch.no_grad():
        if inputs:
            net.in_mean.copy_(torch.from_numpy(f.mean(0)))
            net.in_std.copy_(torch.from_numpy(f.std(0) + 1e-3))
        net.out_mean.copy_(torch.from_numpy(y.mean(0)))
        net.out_std.copy_(torch.from_numpy(y.std(0) + 1e-3))


def standardised(pairs: Pairs) -> Pairs:
    """The pairs with targets z-scored by their own weighted frames (a prior's view)."""
    m = pairs.weight > 0
    mu, sd = pairs.targets[m].mean(0), pairs.targets[m].std(0) + 1e-3
    return Pairs(pairs.features, pairs.activity, ((pairs.targets - mu) / sd).astype(np.float32), pairs.weight)


def start_from_prior(net: SpeechToFace, prior: "Prior", space: ExpressionSpace, channels: np.ndarray,
                     draw: int = 0) -> int:
    """Copy draw `draw` of the prior's trunk and input statistics into `net`, and its
    head rows into the rows of the speech channels it knows (by name; in z-score units,
    so each row is the prior's row, and the bias the prior's bias, in units of the
    avatar's own spread). Rows of channels it does not know start at zero (the avatar's
    mean). Returns the number of channels taken from the prior."""
    t = prior.draws[draw]
    if tuple(t["proj.weight"].shape) != (net.shape.hidden, net.shape.features):
        raise ValueError(f"the prior's trunk is {tuple(t['proj.weight'].shape)}, the net's "
                         f"{(net.shape.hidden, net.shape.features)}")
    own = net.state_dict()
    with torch.no_grad():
        for k, v in t.items():
            if not k.startswith(("head.", "out_")) and k in own and own[k].shape == v.shape:
                own[k].copy_(v)
        net.load_state_dict(own)
        row = {name: i for i, name in enumerate(prior.channels)}
        net.head.weight.zero_()
        net.head.bias.zero_()
        taken = 0
        for j, c in enumerate(channels):
            i = row.get(space.channels[int(c)])
            if i is not None:
                net.head.weight[j] = t["head.weight"][i]
                net.head.bias[j] = t["head.bias"][i]
                taken += 1
    return taken


def start_nets(cfg, prior: "Prior | None", space: ExpressionSpace, channels: np.ndarray, train: Pairs,
               features: int) -> tuple[list[SpeechToFace], int]:
    """The driver's nets before fitting: one per draw of `prior` (its trunk and the head
    rows of the channels it knows; output statistics from `train`), or one fresh net
    (input and output statistics from `train`) when `prior` is None, each drawn right
    after seeding with the recipe's seed. Returns (nets, channels taken from the prior)."""
    nets, taken = [], 0
    for k in range(len(prior.draws) if prior is not None else 1):
        torch.manual_seed(cfg.seed)
        net = new_net(cfg, features, len(channels))
        if prior is not None:
            taken = start_from_prior(net, prior, space, channels, draw=k)
            set_statistics(net, [train], inputs=False)
        else:
            set_statistics(net, [train])
        nets.append(net)
    return nets, taken


def fit_nets(nets: Sequence[SpeechToFace], cfg, space: ExpressionSpace, channels: np.ndarray, train: Pairs,
             val: Pairs, *, from_prior: bool, scratch=None, progress=lambda it, **kw: it,
             log=print) -> list[dict]:
    """Fit each of `nets` in place on `train`, validated on `val`: from a prior a quarter
    of the recipe's steps at a quarter of its rate, from scratch all of them; each
    resumable from its own checkpoint under `scratch`. Their fit summaries."""
    from avatarzoo.drivers.train import fit

    steps, lr = (max(1, cfg.steps // 4), cfg.lr / 4) if from_prior else (cfg.steps, cfg.lr)
    summaries = []
    for k, net in enumerate(nets):
        if len(nets) > 1:
            log(f"net {k + 1} of {len(nets)}")
        own = None if scratch is None else scratch / f"net{k}"
        if own is not None:
            own.mkdir(parents=True, exist_ok=True)
        summaries.append(fit(net, [train], [val], settings(cfg, steps=steps, lr=lr),
                             channel_weight=channel_weights(space, channels), scratch=own,
                             progress=progress, log=log))
    return summaries
