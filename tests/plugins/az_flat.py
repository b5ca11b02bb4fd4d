"""A third-party renderer kind, as a plugin package would ship it (tests/test_plugins.py
installs it through the `avatarzoo.plugins` entry point): the mean training frame,
whatever the expression — the baseline every real renderer is scored against. It
touches no file of avatarzoo: its config, its stage and its runtime live here."""

from __future__ import annotations

import json
from typing import Literal

from avatarzoo.kinds import KindConfig


class FlatRendererConfig(KindConfig, family="renderer", parts={
    "stage": "az_flat:fit",
    "runtime": "az_flat:FlatRenderer",
}):
    kind: Literal["flat"] = "flat"
    space: str = "face-64"


def fit(ctx) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.contracts.tracking import Tracking

    ingest = IngestOutput.open(ctx.inputs["ingest"])
    space = Tracking.load(ctx.inputs["track"] / "tracking.safetensors").space
    frames = ingest.frames[ingest.info.train]
    mean = np.mean([np.asarray(f, np.float32) for f in frames], axis=0) / 255.0
    save_file({"mean": mean.astype(np.float32)}, str(ctx.out / "renderer.safetensors"))
    (ctx.out / "renderer.json").write_text(json.dumps({"kind": "flat", "size": ingest.info.size,
                                                      "space": json.loads(space.to_json())}))


class FlatRenderer:
    def __init__(self, mean, config: dict):
        from avatarzoo.spaces.space import ExpressionSpace

        self.mean = mean  # [S, S, 3] float in [0, 1]
        self.size = int(config["size"])
        self.space = ExpressionSpace.model_validate(config["space"])

    @classmethod
    def from_tensors(cls, tensors, config: dict, device: str = "cpu") -> "FlatRenderer":
        return cls(tensors["mean"].to(device), config)

    @classmethod
    def from_dir(cls, path, device: str = "cpu") -> "FlatRenderer":
        from pathlib import Path

        from safetensors.torch import load_file

        path = Path(path)
        return cls.from_tensors(load_file(str(path / "renderer.safetensors")),
                                json.loads((path / "renderer.json").read_text()), device)

    def render_float(self, expression, pose, body):
        return self.mean.permute(2, 0, 1)[None].expand(expression.shape[0], -1, -1, -1)

    def render(self, expression, pose, body):
        import torch

        return (self.render_float(expression, pose, body).permute(0, 2, 3, 1) * 255 + 0.5).to(torch.uint8)
