"""`fit()`: train a `GaussianAvatar` on the training frames of one recording.

Frames are read from the ingest memmap one batch at a time (resized to the training
resolution on the fly), never all in RAM. Loss: (1 - λ) L1 + λ D-SSIM, both weighted
per pixel by `region_weights` inside the tracked mouth and eye boxes. Densification and
pruning (our own, backend-independent): every `densify_every` steps in the first 60%
of training, the Gaussians with the largest mean position gradient are cloned
(jittered, shrunk) up to the cap, and nearly transparent ones are removed. Against
needles and stray expression (issue 14): after every optimizer step each Gaussian's
axes are projected into the recipe's `max_anisotropy` / `max_scale` limits
(`limit_scales_`), and every `densify_every` steps the expression gates are recomputed
from where the Gaussians now are (gates.py). A validation slice of the training frames
(`validation_split`: every k-th block, never seen by the optimiser, never a held-out
frame) is scored every `validation_interval` steps and the best weights are kept. Resume
state (weights, optimizer, step, RNG, best weights) is written atomically into the
scratch dir.

Shapes: B frames per step, N Gaussians, S training side.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from avatarzoo.image_metrics import psnr, ssim_map
from avatarzoo.renderers.gaussian.distributed import World, all_reduce_sum_, broadcast_state, check_agree
from avatarzoo.renderers.gaussian.gates import GateField
from avatarzoo.renderers.gaussian.landmark_motion import MotionAnchors
from avatarzoo.renderers.gaussian.model import PER_GAUSSIAN, GaussianAvatar, limit_anisotropy
from avatarzoo.renderers.gaussian.sampling import frame_batch
from avatarzoo.threads import cpu_threads

if TYPE_CHECKING:
    from avatarzoo.recipe.renderers import GaussianRendererConfig


@dataclass
class TrainData:
    """Training frames and their tracking, at the model's resolution S.

    frames: the ingest memmap [N, S0, S0, 3] uint8 (read lazily); the rest are small
    arrays: expression [N, D], pose [N, 4, 4], body [N, Bp, 2] (crop px, as tracked),
    boxes [N, 3, 4] px at S (mouth, eye, eye). The optimiser reads only `train_idx`;
    `val_idx` (disjoint from it, see `validation_split`) is only scored. `gate_field`
    recomputes the expression gates as Gaussians move (None: gates stay as built).
    `train_weight` [len(train_idx)]: the frames' sampling probabilities (sampling.py;
    None: uniform epochs)."""

    frames: np.ndarray
    expression: np.ndarray
    pose: np.ndarray
    body: np.ndarray
    boxes: np.ndarray
    train_idx: np.ndarray
    size: int
    val_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    gate_field: GateField | None = None
    motion_anchors: MotionAnchors | None = None
    train_weight: np.ndarray | None = None
    # keep_on(): the frames (uint8 at S) and small arrays, resident on one CUDA device
    resident: dict | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if np.intersect1d(self.train_idx, self.val_idx).size:
            raise ValueError("TrainData: validation frames must not be training frames")

    def image(self, i: int) -> np.ndarray:
        """[S, S, 3] float32 in [0, 1] of frame i (one frame read from disk)."""
        import cv2

        f = np.asarray(self.frames[i])
        if f.shape[0] != self.size:
            f = cv2.resize(f, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return f.astype(np.float32) / 255.0

    def keep_on(self, device: torch.device | str) -> None:
        """On CUDA, copy the training and validation frames (uint8, resized to S) and
        the small arrays to `device` once, so that `batch` reads no host memory: a copy
        from pageable host memory waits for the GPU's queue to drain, and a step made
        six of them. Elsewhere nothing changes."""
        if torch.device(device).type == "cuda":
            self.resident = self.resident_copy(device)

    def resident_copy(self, device: torch.device | str) -> dict:
        """What `keep_on` keeps: the frames `batch` can read (uint8 [N, S, S, 3], only
        the training and validation rows filled) and the small arrays, on `device`."""
        import cv2

        dev = torch.device(device)
        frames = torch.zeros((len(self.frames), self.size, self.size, 3), dtype=torch.uint8, device=dev)
        for i in np.union1d(self.train_idx, self.val_idx):
            f = np.asarray(self.frames[int(i)])
            if f.shape[0] != self.size:
                f = cv2.resize(f, (self.size, self.size), interpolation=cv2.INTER_AREA)
            frames[int(i)] = torch.from_numpy(np.ascontiguousarray(f)).to(dev)
        return {"device": dev, "frames": frames, **{
            k: torch.as_tensor(np.ascontiguousarray(getattr(self, k)), device=dev)
            for k in ("expression", "pose", "body", "boxes")}}

    def _resident_on(self, device: torch.device | str) -> dict | None:
        r = self.resident
        return r if r is not None and r["device"] == torch.device(device) else None

    @staticmethod
    def _indices(idx: np.ndarray, device: torch.device | str) -> Tensor:
        """`idx` as a long tensor on `device` (no wait for the GPU: a non-blocking copy
        of a few bytes)."""
        return torch.from_numpy(np.ascontiguousarray(idx, np.int64)).to(device, non_blocking=True)

    def rows(self, name: str, idx: np.ndarray, device: torch.device | str, dtype: torch.dtype) -> Tensor:
        """`getattr(self, name)[idx]` as a `dtype` tensor on `device` (from the resident
        copy when there is one on that device)."""
        r = self._resident_on(device)
        if r is not None:
            return r[name][self._indices(idx, device)].to(dtype)
        return torch.as_tensor(np.ascontiguousarray(getattr(self, name)[idx]), dtype=dtype, device=device)

    def batch(self, idx: np.ndarray, device: torch.device | str,
              dtype: torch.dtype = torch.float32) -> dict[str, Tensor]:
        r = self._resident_on(device)
        if r is not None:
            j = self._indices(idx, device)
            img = r["frames"][j].to(dtype) / 255.0  # as `image` computes it
            return {"image": img.permute(0, 3, 1, 2),
                    **{k: r[k][j].to(dtype) for k in ("expression", "pose", "body", "boxes")}}
        t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)  # noqa: E731
        img = np.stack([self.image(int(i)) for i in idx])
        return {
            "image": t(img).permute(0, 3, 1, 2),
            "expression": t(self.expression[idx]),
            "pose": t(self.pose[idx]),
            "body": t(self.body[idx]),
            "boxes": t(self.boxes[idx]),
        }


def weight_map(boxes: Tensor, size: int, weights: dict[str, float]) -> Tensor:
    """[B, 1, S, S] loss weights: 1, times `weights['mouth']` inside the mouth box and
    `weights['eyes']` inside the eye boxes. The mouth and eyes cover ~3% of a
    head-and-shoulders frame but carry what the expression-fidelity evaluation re-tracks
    (lip opening, blinks, brows); at weight 1 their error is drowned by hair/torso."""
    b = boxes.shape[0]
    dev = boxes.device
    g = torch.arange(size, device=dev, dtype=boxes.dtype) + 0.5
    w = torch.ones(b, 1, size, size, device=dev)
    for j, key in ((0, "mouth"), (1, "eyes"), (2, "eyes")):
        x0, y0, x1, y1 = (boxes[:, j, c, None] for c in range(4))
        inside = ((g[None] >= x0) & (g[None] <= x1))[:, None, :] & (
            (g[None] >= y0) & (g[None] <= y1)
        )[:, :, None]
        w = torch.where(inside[:, None], torch.full_like(w, weights.get(key, 1.0)), w)
    return w


def loss_norms(weights: Tensor) -> tuple[Tensor, Tensor]:
    """The denominators of `loss_fn`'s two terms for `weights` [B, 1, S, S]: the weight
    sum over the full frame and over the SSIM window's valid interior."""
    return weights.sum(), weights[..., 5:-5, 5:-5].sum()


def loss_fn(pred: Tensor, target: Tensor, weights: Tensor, ssim_weight: float, *,
            norms: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """(1 - λ) weighted L1 + λ weighted (1 - SSIM), normalised by the weight sum.

    `norms` (see `loss_norms`) replaces the weight sums of this batch: a data-parallel
    rank passes those of the global batch, so that the ranks' losses add up to the
    loss of the global batch."""
    l1_norm, ssim_norm = norms if norms is not None else loss_norms(weights)
    l1 = ((pred - target).abs() * weights).sum() / (l1_norm * pred.shape[1])
    sm = ssim_map(pred, target)  # [B, C, S - 10, S - 10]
    wc = weights[..., 5:-5, 5:-5]
    d_ssim = ((1 - sm) * wc).sum() / (ssim_norm * pred.shape[1])
    return (1 - ssim_weight) * l1 + ssim_weight * d_ssim


def _lrs(model: GaussianAvatar, scale: float) -> dict[str, float]:
    """Learning rate of each parameter (× the recipe's `lr`); positions scale with the
    face width so that the same numbers work in any tracker's units."""
    return {
        "means": 1.5e-3 * model.unit * scale,
        "quats": 1e-3 * scale,
        "log_scales": 5e-3 * scale,
        "opacity_logits": 3e-2 * scale,
        "color_logits": 1e-2 * scale,
        "blend_logits": 1e-2 * scale,
        "features": 5e-3 * scale,
        "basis": 1e-3 * scale,
        "bg_residual": 2e-3 * scale,
    }


def make_optimizer(model: GaussianAvatar, scale: float) -> torch.optim.Adam:
    lrs = _lrs(model, scale)
    groups = [{"params": [getattr(model, k)], "lr": v, "name": k, "base_lr": v} for k, v in lrs.items()]
    # CUDA: one fused kernel per parameter instead of several (the step is launch-bound)
    return torch.optim.Adam(groups, eps=1e-15, fused=model.means.device.type == "cuda")


DECAYING = ("means", "features", "basis")


def lr_factor(step: int, steps: int, name: str, *, settle_from: float = 1.0, settle_to: float = 1.0) -> float:
    """Positions (as in 3DGS) and the expression deformation decay exponentially to 1%.
    Without the decay the shared blendshape basis keeps moving every Gaussian by a few
    mm per step late in training (seen on the H100 run: the loss rose again over the
    last 20% of steps). Everything else is constant until the fraction `settle_from` of
    the steps, then decays exponentially to `settle_to` at the last step (1: constant
    to the end, as in 3DGS)."""
    t = min(step / max(steps, 1), 1.0)
    if name in DECAYING:
        return math.exp(math.log(0.01) * t)
    if settle_to >= 1.0 or t <= settle_from:
        return 1.0
    return math.exp(math.log(settle_to) * (t - settle_from) / max(1.0 - settle_from, 1e-9))


#: Frames per validation block: neighbouring frames at 25 fps are near copies, so the
#: slice is whole blocks (~0.5 s) rather than single frames, a little like the held-out
#: window (unseen stretches of time), and at most MAX_VALIDATION frames are scored.
VALIDATION_BLOCK = 12
MAX_VALIDATION = 48


def validation_split(idx: np.ndarray, every: int, *, block: int = VALIDATION_BLOCK
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Split the training frames `idx` [N] (sorted) into (optimised, validation): idx is
    cut into consecutive blocks of `block` frames and every `every`-th block (the last
    of each group of `every`) is validation. `every` 0, or too few frames for two
    blocks, gives no validation. The two parts are disjoint and cover idx."""
    idx = np.asarray(idx)
    if every <= 0 or len(idx) < 2 * block or every < 2:
        return idx, idx[:0]
    is_val = (np.arange(len(idx)) // block) % every == every - 1
    return idx[~is_val], idx[is_val]


@torch.no_grad()
def limit_scales_(model: GaussianAvatar, max_anisotropy: float | None, max_scale: float | None) -> None:
    """Project every Gaussian's log-scales [N, 3] in place into the limits: longest over
    shortest axis ≤ `max_anisotropy` (`limit_anisotropy`), then every axis ≤
    `max_scale` × unit. None: no limit. (Runs after every optimizer
    step: nothing here waits for the GPU.)"""
    ls = model.log_scales
    if max_anisotropy is not None:
        ls.copy_(limit_anisotropy(ls, max_anisotropy))
    if max_scale is not None:
        ls.clamp_(max=math.log(max_scale * model.unit))


@torch.no_grad()
def validation_psnr(model: GaussianAvatar, data: TrainData, opts: "GaussianRendererConfig",
                    device: torch.device, batch: int = 4) -> float:
    """Mean PSNR (dB) of the model's renders of the validation frames (at most
    MAX_VALIDATION of `data.val_idx`, evenly spaced), NaN without validation frames."""
    idx = data.val_idx
    if len(idx) == 0:
        return float("nan")
    if len(idx) > MAX_VALIDATION:
        idx = idx[np.linspace(0, len(idx) - 1, MAX_VALIDATION).round().astype(int)]
    dtype = model.means.dtype
    scores = []
    for a in range(0, len(idx), batch):
        b = data.batch(idx[a:a + batch], device, dtype)
        pred, _, _ = model(b["expression"], b["pose"], b["body"], size=data.size,
                           backend=opts.backend, max_per_tile=opts.max_per_tile)
        scores.append(psnr(pred.clamp(0, 1), b["image"]))
    return float(torch.cat(scores).mean())


@torch.no_grad()
def refresh_gates_(model: GaussianAvatar, field_: GateField | None,
                   anchors: MotionAnchors | None = None) -> None:
    """The expression gates [N, R] (and the landmark-motion anchors, when the model has
    them) recomputed from the Gaussians' rest positions."""
    if field_ is not None:
        model.gates = field_(model.means.detach()).to(model.gates.dtype)
    if anchors is not None and model.motion_landmarks:
        model.motion_index, weight = anchors(model.means.detach())
        model.motion_weight = weight.to(model.gates.dtype)


@torch.no_grad()
def reindex(model: GaussianAvatar, opt: torch.optim.Adam, index: Tensor, fresh: Tensor) -> None:
    """Keep/duplicate Gaussians: every per-Gaussian tensor becomes `x[index]`; Adam's
    moments follow, and are zeroed where `fresh` [len(index)] marks a new Gaussian."""
    by_name = {g["name"]: g for g in opt.param_groups}
    for name in PER_GAUSSIAN:
        old = getattr(model, name)
        new = torch.nn.Parameter(old.detach()[index].clone())
        group = by_name[name]
        state = opt.state.pop(old, None)
        group["params"] = [new]
        if state:
            for k in ("exp_avg", "exp_avg_sq"):
                v = state[k][index].clone()
                v[fresh] = 0
                state[k] = v
            opt.state[new] = state
        setattr(model, name, new)
    for name in model.per_gaussian_buffers():
        setattr(model, name, getattr(model, name)[index].clone())


@torch.no_grad()
def densify_and_prune(
    model: GaussianAvatar, opt: torch.optim.Adam, grad_sum: Tensor, grad_count: Tensor,
    cap: int, gen: torch.Generator, *, grow: float = 0.15, min_opacity: float = 0.01,
) -> tuple[int, int]:
    """Clone the Gaussians with the largest mean position-gradient norm (up to
    `grow` × N new ones, never past `cap`), then drop those with opacity < min_opacity.
    Returns (added, removed)."""
    n = model.n
    score = grad_sum / grad_count.clamp_min(1)
    n_add = max(0, min(cap - n, int(grow * n)))
    if n_add > 0:
        cand = torch.argsort(score, descending=True)[:n_add]
        cand = cand[score[cand] > 0]
        n_add = len(cand)
    else:
        cand = torch.zeros(0, dtype=torch.long, device=score.device)
    keep = torch.sigmoid(model.opacity_logits) >= min_opacity
    base = torch.arange(n, device=score.device)
    index = torch.cat([base[keep], cand])
    fresh = torch.zeros(len(index), dtype=torch.bool, device=score.device)
    fresh[keep.sum():] = True
    reindex(model, opt, index, fresh)
    if n_add:
        # the clone and its source split the footprint: shrink both, offset along ±noise
        k = int(keep.sum())
        src = torch.nonzero(keep[cand])[:, 0]  # clones whose source survived pruning
        src_pos = torch.searchsorted(torch.nonzero(keep)[:, 0], cand[src])
        sc = torch.exp(model.log_scales[k:])
        off = torch.randn(n_add, 3, generator=gen, device="cpu").to(sc.device) * sc * 0.5
        model.means[k:] += off
        model.log_scales[k:] -= math.log(1.25)
        model.means[src_pos] -= off[src]
        model.log_scales[src_pos] -= math.log(1.25)
    return n_add, int((~keep).sum())


def _save_checkpoint(path: Path, model: GaussianAvatar, opt: torch.optim.Adam, step: int,
                     gen: torch.Generator, densify_stats: tuple[Tensor, Tensor], best: "Best") -> None:
    tmp = path.with_suffix(".tmp")
    state = {
        "step": step,
        "best_psnr": best.psnr,
        "best_step": best.step,
        "best_model": best.state,
        "best_stale": best.stale,
        "best_top": best.top,
        "grad_sum": densify_stats[0],
        "grad_count": densify_stats[1],
        "model": model.state_dict(),
        "opt": opt.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "gen": gen.get_state(),
    }
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_checkpoint(path: Path, model: GaussianAvatar, scale: float, gen: torch.Generator,
                     device: torch.device) -> tuple[torch.optim.Adam, int, tuple[Tensor, Tensor], "Best"]:
    state = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(state["model"])
    opt = make_optimizer(model, scale)
    opt.load_state_dict(state["opt"])
    torch.set_rng_state(state["torch_rng"].cpu())
    gen.set_state(state["gen"].cpu())
    best = Best(float(state.get("best_psnr", float("-inf"))), int(state.get("best_step", -1)),
                state.get("best_model"), int(state.get("best_stale", 0)),
                float(state.get("best_top", float("-inf"))))
    return opt, int(state["step"]), (state["grad_sum"], state["grad_count"]), best


@dataclass
class Best:
    """The kept weights (a state dict on the device, None before the first validation),
    their step and validation score, the best score seen (`top`) and the passes since a
    score came within the tolerance of it (`stale`)."""

    psnr: float = float("-inf")
    step: int = -1
    state: dict | None = None
    stale: int = 0
    top: float = float("-inf")

    def offer(self, score: float, step: int, model: GaussianAvatar, tolerance: float = 0.0) -> bool:
        """Keep `model`'s weights if `score` is within `tolerance` dB of the best score
        seen so far (this one included): the latest such weights win. True when kept."""
        self.top = max(self.top, score)
        if score >= self.top - tolerance:
            self.psnr, self.step, self.stale = score, step, 0
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return True
        self.stale += 1
        return False


def fit(model: GaussianAvatar, data: TrainData, opts: "GaussianRendererConfig", **kw) -> dict[str, float]:
    """Train `model` in place as the recipe's renderer config `opts` says (steps, batch,
    learning rates, loss, densification, checkpoints); resumes from `scratch/ckpt.pt`.
    Keyword arguments: scratch, progress, log, device, world (see `_fit`). On the CPU
    it runs on one torch thread (`threads.cpu_threads`). Returns summary numbers.

    With `world` (a `distributed.World` of world_size > 1, process group joined) this
    process is one data-parallel rank: `opts.batch_size` frames per rank, a global
    batch of batch_size × world_size; see `renderers/gaussian/distributed.py`."""
    world = kw.get("world")
    with cpu_threads(world.device if world is not None else kw.get("device", "cpu")):
        return _fit(model, data, opts, **kw)


def _rank_batch(data: TrainData, opts: "GaussianRendererConfig", step: int, world: World,
                device: torch.device, dtype: torch.dtype) -> tuple[dict[str, Tensor], Tensor, tuple[Tensor, Tensor]]:
    """This rank's slice of the global batch of `step`, its loss weights, and the loss
    normalisers of the whole global batch (computed locally from every frame's boxes:
    no collective). One process is the world of one rank: its slice is the batch."""
    idx = frame_batch(data.train_idx, opts.batch_size * world.world_size, step, opts.seed, data.train_weight)
    boxes = data.rows("boxes", idx, device, dtype)
    w_all = weight_map(boxes, data.size, opts.region_weights)  # [B × world, 1, S, S]
    batch = data.batch(idx[world.rank::world.world_size], device, dtype)
    return batch, w_all[world.rank::world.world_size], loss_norms(w_all)


def step_gradients(model: GaussianAvatar, data: TrainData, opts: "GaussianRendererConfig", step: int,
                   world: World) -> Tensor:
    """Forward and backward of training step `step` on this rank's slice of the global
    batch. Afterwards every parameter's `.grad` is the gradient of the whole global
    batch's loss (one all-reduce of every gradient and the loss when distributed: each
    rank's loss is normalised by the global batch's weight sums, so the sums are exactly
    the global batch's, up to float summation order). Returns that loss, detached [1].
    Runs in the model's dtype (float64 in the tests that compare ranks)."""
    dtype = model.means.dtype
    batch, w, norms = _rank_batch(data, opts, step, world, world.device, dtype)
    pred, _, _ = model(batch["expression"], batch["pose"], batch["body"], size=data.size,
                       backend=opts.backend, max_per_tile=opts.max_per_tile)
    loss = loss_fn(pred, batch["image"], w, opts.ssim_weight, norms=norms)
    model.zero_grad(set_to_none=True)
    loss.backward()
    loss = loss.detach().reshape(1)
    if world.distributed:  # one collective: every gradient + the loss
        all_reduce_sum_([p.grad for p in model.parameters() if p.grad is not None] + [loss], world)
    return loss


def _fit(
    model: GaussianAvatar,
    data: TrainData,
    opts: "GaussianRendererConfig",
    *,
    scratch: Path | None = None,
    progress: Callable = lambda it, **kw: it,
    log: Callable[[str], None] = print,
    device: torch.device | str = "cpu",
    world: World | None = None,
) -> dict[str, float]:
    """Train `model` in place for `opts.steps` steps; resumes from `scratch/ckpt.pt`.
    Returns summary numbers (wall seconds, steps/s, final loss, Gaussians).
    With a distributed `world`, `device` is `world.device`; only rank 0 writes the
    checkpoint and logs (give the others no-op `log`/`progress` too)."""
    ddp = world is not None and world.distributed
    if world is not None:
        device = world.device
    if ddp:
        if len(data.train_idx) < opts.batch_size * world.world_size:
            raise ValueError(f"fit: a global batch of {opts.batch_size} × {world.world_size} ranks "
                             f"needs at least that many training frames, got {len(data.train_idx)}")
        if not world.is_main:
            log = lambda msg: None  # noqa: E731
    device = torch.device(device)
    world = world or World(0, 1, device)
    torch.manual_seed(opts.seed)
    gen = torch.Generator().manual_seed(opts.seed)
    model.to(device)
    data.keep_on(device)
    opt = make_optimizer(model, opts.lr)
    step = 0
    ckpt = scratch / "ckpt.pt" if scratch is not None else None
    grad_sum = torch.zeros(model.n, device=device)
    grad_count = torch.zeros(model.n, device=device)
    best = Best()
    if ckpt is not None and ckpt.is_file():
        opt, step, (grad_sum, grad_count), best = _load_checkpoint(ckpt, model, opts.lr, gen, device)
        log(f"resumed from {ckpt} at step {step} with {model.n} Gaussians")
    validating = len(data.val_idx) > 0
    if validating and step == 0:
        log(f"validation: {len(data.val_idx)} training frames withheld from the optimiser "
            f"(every {opts.validation_stride}th block of {VALIDATION_BLOCK}), scored every "
            f"{opts.validation_interval} steps; {len(data.train_idx)} frames optimised")
    refresh_every = opts.densify_every or opts.validation_interval
    if ddp:
        broadcast_state(model, world)  # identical replicas, however each rank built its model
        log(f"data-parallel: {world.world_size} ranks ({world.device.type}), "
            f"global batch {opts.batch_size * world.world_size}")
    densify_stop = int(opts.densify_until * opts.steps)
    t0, losses = time.perf_counter(), []
    start = step
    for step in progress(range(start, opts.steps), total=opts.steps - start,
                         desc="fit renderer", unit="step"):
        for g in opt.param_groups:
            g["lr"] = g["base_lr"] * lr_factor(step, opts.steps, g["name"], settle_from=opts.densify_until,
                                               settle_to=opts.settle_lr)
        loss = step_gradients(model, data, opts, step, world)
        with torch.no_grad():
            gn = model.means.grad.norm(dim=-1)
            grad_sum += gn
            grad_count += (gn > 0).float()
        opt.step()
        limit_scales_(model, opts.max_anisotropy, opts.max_scale)
        losses.append(loss)  # on the device: read only when logged (no wait each step)
        if (opts.densify_every and (step + 1) % opts.densify_every == 0
                and step + 1 < densify_stop):
            added, removed = densify_and_prune(model, opt, grad_sum, grad_count,
                                               opts.gaussians, gen)
            if ddp:
                check_agree(model.n, world, "the Gaussian count after densification")
            grad_sum = torch.zeros(model.n, device=device)
            grad_count = torch.zeros(model.n, device=device)
            if added or removed:
                log(f"step {step + 1}: +{added} -{removed} Gaussians → {model.n}")
        if (step + 1) % refresh_every == 0:  # gates follow where the Gaussians now are
            refresh_gates_(model, data.gate_field, data.motion_anchors)
        stop = False
        if validating and ((step + 1) % opts.validation_interval == 0 or step + 1 == opts.steps):
            score = validation_psnr(model, data, opts, device)
            if ddp:  # ranks score the same frames; one mean so that all keep/stop alike
                t = torch.tensor([score], device=device, dtype=torch.float32)
                all_reduce_sum_([t], world)
                score = float(t) / world.world_size
            kept = best.offer(score, step + 1, model, opts.validation_tolerance)
            log(f"step {step + 1}: validation {score:.2f} dB"
                + (" (kept)" if kept else f" (kept {best.psnr:.2f} dB of step {best.step})"))
            stop = opts.validation_patience is not None and best.stale >= opts.validation_patience
        if (ckpt is not None and opts.checkpoint_every and (step + 1) % opts.checkpoint_every == 0
                and world.is_main):
            _save_checkpoint(ckpt, model, opt, step + 1, gen, (grad_sum, grad_count), best)
        if (step + 1) % max(1, opts.steps // 20) == 0:
            losses = losses[-50:]
            log(f"step {step + 1}/{opts.steps} loss {float(torch.cat(losses).mean()):.4f} N={model.n}")
        if stop:
            log(f"step {step + 1}: stopping, {best.stale} validations without improvement")
            break
    wall = time.perf_counter() - t0
    done = (step + 1 if opts.steps > start else start) - start
    summary = {
        "wall_s": wall,
        "steps_per_s": done / wall if wall > 0 else float("nan"),
        "final_loss": float(torch.cat(losses[-50:]).mean()) if losses else float("nan"),
        "steps_run": start + done,
    }
    if best.state is not None:
        model.load_state_dict(best.state)
        log(f"kept the weights of step {best.step} (validation {best.psnr:.2f} dB)")
        summary.update(best_step=best.step, validation_psnr=best.psnr)
    summary["n_gaussians"] = model.n
    return summary
