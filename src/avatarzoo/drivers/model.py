"""`SpeechToFace`: a causal temporal convolution network from speech features to
expression codes, with a fixed lookahead, so that it streams.

Time runs on the feature grid (100 frames/s, drivers/features/base.py): feature frame j
is known once the audio up to (j + 1) × 10 ms has arrived. The net is causal on that
grid (its output at j reads frames ≤ j) and predicts the expression at frame j − L:
L = `lookahead` frames of future speech per output, the latency the model adds.

Two ways to run it, the same function:
- `forward(x)` over whole sequences (training, offline inference): dilated causal
  convolutions, the reference;
- `start()` + `step(x)`: the next few feature frames at a time, each layer keeping the
  last (kernel − 1) × dilation inputs it needs (WaveNet-style fast generation): the
  cost of a chunk is its own frames, not the receptive field. Tests hold it equal to
  `forward`.

Shapes: B batch, T feature frames, F feature dim, H hidden, D expression dim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class NetShape:
    """What the tensors of a saved net need to be rebuilt (stored in audio_driver.json)."""

    features: int  # F
    hidden: int  # H
    layers: int  # residual blocks, dilations 1, 2, 4, ... 2^(layers - 1)
    kernel: int
    outputs: int  # D
    lookahead: int  # L feature frames

    @property
    def receptive_field(self) -> int:
        """Feature frames one output depends on (the current one included)."""
        return 1 + (self.kernel - 1) * sum(2 ** i for i in range(self.layers))


class CausalBlock(nn.Module):
    """x + W2 · GELU(dilated causal conv(LayerNorm(x)))."""

    def __init__(self, hidden: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        self.kernel, self.dilation = kernel, dilation
        self.norm = nn.LayerNorm(hidden)
        self.conv = nn.Conv1d(hidden, hidden, kernel, dilation=dilation)
        self.mix = nn.Linear(hidden, hidden)
        self.drop = nn.Dropout(dropout)

    @property
    def history(self) -> int:
        """Past inputs (frames) the convolution reads besides the current one."""
        return (self.kernel - 1) * self.dilation

    def forward(self, x: Tensor) -> Tensor:  # [B, T, H] -> [B, T, H]
        h = self.norm(x).transpose(1, 2)  # [B, H, T]
        h = self.conv(F.pad(h, (self.history, 0)))  # causal: pad the past only
        return x + self.drop(self.mix(F.gelu(h.transpose(1, 2))))

    def step(self, x: Tensor, past: Tensor) -> tuple[Tensor, Tensor]:
        """n new frames: x [B, n, H], past [B, history, H] (the normalised inputs before
        them) -> (out [B, n, H], the new past). The convolution runs over past + new
        frames without padding, so its n outputs are exactly `forward`'s there."""
        h = self.norm(x)
        window = torch.cat([past, h], dim=1)  # [B, history + n, H]
        y = self.conv(window.transpose(1, 2)).transpose(1, 2)  # [B, n, H]
        return x + self.mix(F.gelu(y)), window[:, window.shape[1] - self.history:]


class SpeechToFace(nn.Module):
    """Speech features [B, T, F] -> expression codes [B, T, D] in the space's units.

    Inputs are standardised with the training features' statistics and outputs
    de-standardised with the training targets' (buffers, saved with the weights)."""

    def __init__(self, shape: NetShape, dropout: float = 0.1):
        super().__init__()
        self.shape = shape
        self.register_buffer("in_mean", torch.zeros(shape.features))
        self.register_buffer("in_std", torch.ones(shape.features))
        self.register_buffer("out_mean", torch.zeros(shape.outputs))
        self.register_buffer("out_std", torch.ones(shape.outputs))
        self.proj = nn.Linear(shape.features, shape.hidden)
        self.blocks = nn.ModuleList(
            CausalBlock(shape.hidden, shape.kernel, 2 ** i, dropout) for i in range(shape.layers))
        self.norm = nn.LayerNorm(shape.hidden)
        self.head = nn.Linear(shape.hidden, shape.outputs)

    def hidden(self, features: Tensor) -> Tensor:
        """[B, T, F] -> [B, T, H]: the trunk (what a prior shares with its adaptations)."""
        if features.ndim != 3 or features.shape[-1] != self.shape.features:
            raise ValueError(f"features: expected [B, T, {self.shape.features}], got {tuple(features.shape)}")
        x = self.proj((features - self.in_mean) / self.in_std)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward(self, features: Tensor) -> Tensor:
        """[B, T, F] -> [B, T, D]; output j is the expression at feature frame j − L."""
        return self.head(self.hidden(features)) * self.out_std + self.out_mean

    # --- streaming ------------------------------------------------------------------

    def start(self, batch: int = 1) -> list[Tensor]:
        """The per-layer past of a fresh stream: zeros, as `forward` pads the past of a
        sequence (one [B, history, H] tensor per block)."""
        p = next(self.parameters())
        return [torch.zeros(batch, b.history, self.shape.hidden, dtype=p.dtype, device=p.device)
                for b in self.blocks]

    @torch.no_grad()
    def step(self, features: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """The next n feature frames [B, n, F] -> (outputs [B, n, D], new state). Equal to
        `forward`'s outputs at the same frames, given the state of all frames before."""
        if features.ndim != 3 or features.shape[-1] != self.shape.features:
            raise ValueError(f"features: expected [B, n, {self.shape.features}], got {tuple(features.shape)}")
        x = self.proj((features - self.in_mean) / self.in_std)
        new = []
        for block, past in zip(self.blocks, state):
            x, past = block.step(x, past)
            new.append(past)
        return self.head(self.norm(x)) * self.out_std + self.out_mean, new


class NetEnsemble(nn.Module):
    """K `SpeechToFace` nets of one shape and one output standardisation, their outputs
    averaged: the driver's nets adapted from K draws of the prior, whose fit noise the
    average takes out (BENCHMARKS.md, "Prior-fit variance"). The interface of one net
    (forward, start/step, shape, out_mean, out_std); K = 1 is that net.

    Streaming with K > 1 steps the members as one (`GroupedSteps`: every layer one batched
    op instead of K); `start_each` / `step_each`, the members one after another, are its
    reference. Shapes: as SpeechToFace."""

    def __init__(self, members: Sequence[SpeechToFace]):
        super().__init__()
        if not members:
            raise ValueError("NetEnsemble: no member nets")
        if len({m.shape for m in members}) != 1:
            raise ValueError(f"NetEnsemble: members of different shapes {sorted({str(m.shape) for m in members})}")
        self.members = nn.ModuleList(members)
        self.shape = members[0].shape
        self._grouped: tuple[list[Tensor], tuple, GroupedSteps] | None = None  # see `grouped`

    @property
    def out_mean(self) -> Tensor:  # [D] the members' (they are set from the same frames)
        return self.members[0].out_mean

    @property
    def out_std(self) -> Tensor:
        return self.members[0].out_std

    def forward(self, features: Tensor) -> Tensor:
        """[B, T, F] -> [B, T, D]: the mean of the members' outputs."""
        return torch.stack([m(features) for m in self.members]).mean(0)

    # --- streaming: the members one after another (the reference) --------------------

    def start_each(self, batch: int = 1) -> list[list[Tensor]]:
        """One list of per-block pasts per member."""
        return [m.start(batch) for m in self.members]

    @torch.no_grad()
    def step_each(self, features: Tensor, state: list[list[Tensor]]) -> tuple[Tensor, list[list[Tensor]]]:
        """The next n feature frames [B, n, F] -> (the members' mean output [B, n, D], new state)."""
        outs, new = zip(*(m.step(features, past) for m, past in zip(self.members, state)))
        return torch.stack(outs).mean(0), list(new)

    # --- streaming: all members in one op a layer ---------------------------------------

    def start(self, batch: int = 1) -> list[Tensor]:
        """A fresh stream's state (opaque to callers; see `GroupedSteps.start`)."""
        if len(self.members) == 1:
            return self.members[0].start(batch)
        return self.grouped().start(batch)

    @torch.no_grad()
    def step(self, features: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """As `step_each`, with the state of `start`: equal to it to float rounding."""
        if len(self.members) == 1:
            return self.members[0].step(features, state)
        return self.grouped().step(features, state)

    def grouped(self) -> "GroupedSteps":
        """The members' weights stacked, rebuilt whenever a tensor of theirs was modified
        in place (a load, an optimiser step: its version) or given new storage (a move to
        a device or dtype) since; `load_state_dict` drops it (it may replace tensors)."""
        if self._grouped is not None:
            tensors, key, steps = self._grouped
            if key == tuple((t.data_ptr(), t._version) for t in tensors):
                return steps
        tensors = [t for m in self.members for t in (*m.parameters(), *m.buffers())]
        key = tuple((t.data_ptr(), t._version) for t in tensors)
        self._grouped = (tensors, key, GroupedSteps(list(self.members)))
        return self._grouped[2]

    def load_state_dict(self, state, strict: bool = True, assign: bool = False):  # noqa: D102
        self._grouped = None
        return super().load_state_dict(state, strict=strict, assign=assign)


class GroupedSteps:
    """K nets of one `NetShape` stepped together: each layer's K weights stacked ([K, ...])
    and applied in one batched op — one einsum for the K projections, one grouped
    convolution (groups = K) for the K dilated convolutions — so that a chunk costs the
    ops of one net, not K. Inference only: a snapshot of the members' weights.

    State: one [B, K, history, H] tensor per block (the members' pasts side by side)."""

    @torch.no_grad()
    def __init__(self, members: Sequence[SpeechToFace]):
        def stack(get) -> Tensor:
            return torch.stack([get(m).detach() for m in members])

        self.k, self.shape = len(members), members[0].shape
        self.in_mean, self.in_std = stack(lambda m: m.in_mean), stack(lambda m: m.in_std)  # [K, F]
        self.proj_w, self.proj_b = stack(lambda m: m.proj.weight.t()), stack(lambda m: m.proj.bias)  # [K, F, H]
        self.blocks = []
        for i, block in enumerate(members[0].blocks):
            each = [m.blocks[i] for m in members]
            self.blocks.append(dict(
                dilation=block.dilation, history=block.history, eps=block.norm.eps,
                norm_w=torch.stack([b.norm.weight for b in each]), norm_b=torch.stack([b.norm.bias for b in each]),
                conv_w=torch.cat([b.conv.weight for b in each]),  # [K·H, H, kernel]: group k is member k
                conv_b=torch.cat([b.conv.bias for b in each]),
                mix_w=torch.stack([b.mix.weight.t() for b in each]), mix_b=torch.stack([b.mix.bias for b in each]),
            ))
        self.eps = members[0].norm.eps
        self.norm_w, self.norm_b = stack(lambda m: m.norm.weight), stack(lambda m: m.norm.bias)  # [K, H]
        self.head_w, self.head_b = stack(lambda m: m.head.weight.t()), stack(lambda m: m.head.bias)  # [K, H, D]
        self.out_mean, self.out_std = stack(lambda m: m.out_mean), stack(lambda m: m.out_std)  # [K, D]

    def start(self, batch: int = 1) -> list[Tensor]:
        h = self.shape.hidden
        return [torch.zeros(batch, self.k, b["history"], h, dtype=self.proj_w.dtype, device=self.proj_w.device)
                for b in self.blocks]

    @torch.no_grad()
    def step(self, features: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """The next n feature frames [B, n, F] -> (the members' mean output [B, n, D], new state)."""
        if features.ndim != 3 or features.shape[-1] != self.shape.features:
            raise ValueError(f"features: expected [B, n, {self.shape.features}], got {tuple(features.shape)}")
        b, n, _ = features.shape
        k, h = self.k, self.shape.hidden
        x = (features[:, None] - self.in_mean[:, None]) / self.in_std[:, None]  # [B, K, n, F]
        x = torch.einsum("bknf,kfh->bknh", x, self.proj_w) + self.proj_b[:, None]  # [B, K, n, H]
        new = []
        for blk, past in zip(self.blocks, state):
            y = F.layer_norm(x, (h,), eps=blk["eps"]) * blk["norm_w"][:, None] + blk["norm_b"][:, None]
            window = torch.cat([past, y], dim=2)  # [B, K, history + n, H]
            t = window.shape[2]
            c = F.conv1d(window.transpose(2, 3).reshape(b, k * h, t), blk["conv_w"], blk["conv_b"],
                         dilation=blk["dilation"], groups=k)  # [B, K·H, n]
            c = c.reshape(b, k, h, n).transpose(2, 3)  # [B, K, n, H]
            x = x + torch.einsum("bknh,khg->bkng", F.gelu(c), blk["mix_w"]) + blk["mix_b"][:, None]
            new.append(window[:, :, t - blk["history"]:])
        y = F.layer_norm(x, (h,), eps=self.eps) * self.norm_w[:, None] + self.norm_b[:, None]
        out = (torch.einsum("bknh,khd->bknd", y, self.head_w) + self.head_b[:, None]) * self.out_std[:, None] \
            + self.out_mean[:, None]  # [B, K, n, D]
        return out.mean(1), new
