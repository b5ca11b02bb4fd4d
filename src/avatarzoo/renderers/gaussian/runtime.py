"""`GaussianRenderer`: a trained Gaussian avatar at inference (no grad, batched).

Built from exactly the stage's two files (renderer.safetensors + renderer.json), or
from the same tensors inside a bundle (prefix `renderer.` stripped). Nothing pickled.

Shapes: B frames, D expression channels, Bp body points, S frame side.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from torch import Tensor

from avatarzoo.errors import BundleError
from avatarzoo.renderers.gaussian.rasterize import resolve_backend
from avatarzoo.spaces.space import ExpressionSpace

#: gsplat tile side at runtime: 8 composites the same image as gsplat's 16 and took 0.58
#: against 0.73 ms (sort + composite, 150k Gaussians, 512², batch 1, one H200;
#: benchmarks/render_profile.py, BENCHMARKS.md). Training keeps 16.
RUNTIME_TILE = 8

log = logging.getLogger("avatarzoo")


class GaussianRenderer:
    """Renders full frames from expression [B, D], head pose [B, 4, 4] (canonical head →
    camera) and upper-body points [B, Bp, 2] (crop pixels)."""

    def __init__(self, model, config: dict, *, backend: str = "auto", cuda_graphs: bool = True,
                 compile: bool = False):
        self.model = model.eval().requires_grad_(False)
        self.config = config
        self.space = ExpressionSpace.model_validate(config["space"])
        self.backend = backend
        self._gsplat = resolve_backend(backend, self.device) == "gsplat"
        # CUDA: the per-frame Gaussians (deformation, motions, covariances) and their
        # projection replay as one CUDA graph per batch size and frame size; the tile
        # sort and compositing run eagerly after it (_per_frame)
        self.cuda_graphs = cuda_graphs and self.device.type == "cuda"
        # `compile` (CUDA only, opt-in): the per-frame Gaussians fused by torch.compile
        # (Inductor's Triton kernels, captured in the same graph); `model.gaussians`
        # itself is the eager reference they are tested against
        # (tests/test_gaussian_compiled.py, on the CPU and the H200). Off by default
        # (`avatarzoo.load(..., compile=True)` asks for it): each process pays the
        # compile (13 s on an H200 for one batch size) and images differ from the eager
        # ones in the last digits; 512² on an H200 with the landmark-motion prior:
        # 1,057–1,117 → 1,110–1,346 fps at batch 1, 2,320–2,349 → 3,043–3,318 at batch 8
        # (BENCHMARKS.md)
        self.compiled = compile and self.device.type == "cuda"
        self._gaussians = self.model.gaussians
        if self.compiled:
            self._gaussians = torch.compile(self.model.gaussians, fullgraph=True)
        self._compiled: set[tuple] = set()  # (batch, body points, size) compiled for
        self._graphs: dict[tuple, tuple] = {}
        self._backgrounds: dict[int, Tensor] = {}
        with torch.inference_mode():
            self._fixed = model.fixed()  # the frame-invariant terms, derived once

    @property
    def size(self) -> int:
        """S, the side of the frames `render` returns (the ingest crop size)."""
        return self.model.size

    @property
    def device(self) -> torch.device:
        return self.model.K.device

    @classmethod
    def from_tensors(cls, tensors: dict[str, Tensor], config: dict, device: str = "cpu", *,
                     compile: bool = False) -> "GaussianRenderer":
        """`config` is renderer.json; its `expression_limits` (absent in renderers fitted
        before issue 14, which then render unbounded, as they were trained) bounds the
        expression offsets; its `deformed_max_anisotropy` (absent in renderers fitted
        before the deformed Gaussians' shapes were held) limits their axis ratio."""
        from avatarzoo.renderers.gaussian.model import GaussianAvatar, offset_bounds

        if config.get("kind") != "gaussian":
            raise BundleError(f"renderer config kind is {config.get('kind')!r}, expected 'gaussian'")
        need = ("K", "ref_pose", "body_ref", "body_index", "channel_group", "background", "means")
        missing = [k for k in need if k not in tensors]
        if missing:
            raise BundleError(f"renderer tensors lack {missing}; the renderer files are incomplete")
        t = {k: v.to(device) for k, v in tensors.items()}
        try:  # renderer.json comes from a bundle: untrusted input
            model = GaussianAvatar(
                t["means"].shape[0], size=int(config["size"]), K=t["K"], ref_pose=t["ref_pose"],
                body_ref=t["body_ref"], body_index=t["body_index"],
                torso_depth=float(config["torso_depth"]), channel_group=t["channel_group"],
                n_groups=int(config["n_groups"]), background=t["background"],
                feature_dim=int(config["feature_dim"]), unit=float(config["unit"]),
                bg_residual_size=int(t["bg_residual"].shape[-1]),
                bounds=offset_bounds(config.get("expression_limits")),
                max_anisotropy=config.get("deformed_max_anisotropy"),
                # the landmark-motion prior's size is its tensor's (absent: fitted without it)
                motion_landmarks=int(t["motion_basis"].shape[1]) if "motion_basis" in t else 0,
            ).to(device)
            model.load_state_dict(t)
        except (KeyError, IndexError, RuntimeError, ValueError, TypeError) as e:
            raise BundleError(f"renderer tensors do not fit its config ({type(e).__name__}: {e})") from None
        if model.motion_landmarks:  # gathered per frame: an index past the landmarks must not reach a kernel
            idx = model.motion_index
            if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= model.motion_landmarks):
                raise BundleError(f"renderer tensor motion_index points outside its {model.motion_landmarks} "
                                  f"landmarks (range {int(idx.min())}..{int(idx.max())})")
        return cls(model.to(device), config, compile=compile)

    @classmethod
    def from_dir(cls, path: str | Path, device: str = "cpu", *, compile: bool = False) -> "GaussianRenderer":
        from safetensors.torch import load_file

        path = Path(path)
        for f in ("renderer.safetensors", "renderer.json"):
            if not (path / f).is_file():
                raise BundleError(f"{path / f} is missing (fit_renderer stage output)")
        config = json.loads((path / "renderer.json").read_text())
        return cls.from_tensors(load_file(str(path / "renderer.safetensors")), config, device, compile=compile)

    def _check(self, expression: Tensor, pose: Tensor, body: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        d, nb = self.space.dim, int(self.model.body_index.max()) + 1
        if expression.ndim != 2 or expression.shape[1] != d:
            raise ValueError(f"expression must be [B, {d}], got {tuple(expression.shape)}")
        b = expression.shape[0]
        if tuple(pose.shape) != (b, 4, 4):
            raise ValueError(f"pose must be [{b}, 4, 4], got {tuple(pose.shape)}")
        if body.ndim != 3 or body.shape[0] != b or body.shape[2] != 2 or body.shape[1] < nb:
            raise ValueError(f"body must be [{b}, Bp >= {nb}, 2], got {tuple(body.shape)}")
        dev = self.device
        return (expression.to(dev, torch.float32), pose.to(dev, torch.float32),
                body.to(dev, torch.float32))

    def _background(self, size: int) -> Tensor:
        if size not in self._backgrounds:
            self._backgrounds[size] = self.model.background_image(size)
        return self._backgrounds[size]

    def _uses_gsplat(self) -> bool:
        return self._gsplat

    def _per_frame(self, e: Tensor, p: Tensor, b: Tensor, size: int) -> dict[str, Tensor]:
        """What is computed afresh for every frame before the tile sort: the posed
        Gaussians (model.gaussians) and, with gsplat, their projection at `size`
        (_gsplat_rasterizer.project_gsplat). Fixed sizes and no host sync: one CUDA graph."""
        g = self._gaussians(e, p, b, fixed=self._fixed)
        if not self._uses_gsplat():
            return g
        from avatarzoo.renderers.gaussian._gsplat_rasterizer import project_gsplat

        view, k = self.model.camera(e.shape[0], size)
        return project_gsplat(g["means"], g["covars"], g["opacities"], g["colors"], view, k, size, size)

    def _replayed(self, e: Tensor, p: Tensor, b: Tensor, size: int) -> dict[str, Tensor]:
        """`_per_frame`, replayed from a CUDA graph per (batch, body points, size) when
        possible (~50 small kernels launched as one)."""
        key = (e.shape[0], b.shape[1], size)
        if self.compiled and key not in self._compiled:
            self._compile(e, p, b, size)
            self._compiled.add(key)
        if not self.cuda_graphs:
            return self._per_frame(e, p, b, size)
        if key not in self._graphs:
            try:
                self._graphs[key] = self._capture(e, p, b, size)
            except RuntimeError as err:  # capture unsupported here: stay eager
                log.warning("CUDA graph capture failed (%s); eager", err)
                self.cuda_graphs = False
                return self._per_frame(e, p, b, size)
        graph, inputs, outputs = self._graphs[key]
        for dst, src in zip(inputs, (e, p, b)):
            dst.copy_(src)
        graph.replay()
        return outputs

    def _compile(self, e: Tensor, p: Tensor, b: Tensor, size: int) -> None:
        """The first compiled call at this batch size: Inductor compiles for the first
        shape, and once more, with a symbolic batch, at the second (then never again);
        tens of seconds each, less from Inductor's disk cache. Where it cannot compile
        (no Triton, no compiler), the eager reference stays."""
        import time

        t0 = time.perf_counter()
        try:
            self._per_frame(e, p, b, size)
        except Exception as err:  # noqa: BLE001 (Inductor raises many kinds; all mean: eager)
            log.warning("torch.compile of the per-frame Gaussians failed (%s: %s); eager",
                        type(err).__name__, str(err).splitlines()[0] if str(err) else "")
            self.compiled, self._gaussians = False, self.model.gaussians
            return
        if (dt := time.perf_counter() - t0) > 1.0:
            log.info("per-frame Gaussians compiled for batch %d in %.1f s", e.shape[0], dt)

    def _capture(self, e: Tensor, p: Tensor, b: Tensor, size: int) -> tuple:
        inputs = (e.clone(), p.clone(), b.clone())
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):  # warm up on a side stream, as torch's docs say
            for _ in range(2):
                self._per_frame(*inputs, size)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            outputs = self._per_frame(*inputs, size)
        return graph, inputs, outputs

    def render_float(self, expression: Tensor, pose: Tensor, body: Tensor, *,
                     size: int | None = None) -> Tensor:
        """[B, 3, S, S] float in [0, 1] (for metrics); `size` overrides S."""
        from avatarzoo.threads import cpu_threads

        e, p, b = self._check(expression, pose, body)
        s = self.size if size is None else int(size)
        with torch.inference_mode(), cpu_threads(self.device):
            g = self._replayed(e, p, b, s)
            if self._uses_gsplat():  # projected already: sort and composite
                from avatarzoo.renderers.gaussian._gsplat_rasterizer import raster_gsplat

                from avatarzoo.renderers.gaussian.rasterize import over_background

                img, alpha, _ = raster_gsplat(g, s, s, tile_size=RUNTIME_TILE)
                img = over_background(img, alpha, self._background(s))
            else:
                img, _, _ = self.model.splat(g, s, self._background(s), backend=self.backend)
            return img.clamp(0, 1)

    @property
    def needle_definition(self) -> dict[str, float]:
        """The thresholds `needles` counts with (needles.py), for the report."""
        from avatarzoo.renderers.gaussian import needles as nd

        return {"ratio": nd.RATIO, "min_opacity": nd.MIN_OPACITY, "min_length": nd.MIN_LENGTH}

    def needles(self, expression: Tensor, pose: Tensor, body: Tensor) -> Tensor:
        """[B] long: needle Gaussians on screen in each frame at S (needles.py defines
        them), after expression, pose and body."""
        from avatarzoo.renderers.gaussian.needles import needle_count
        from avatarzoo.threads import cpu_threads

        e, p, b = self._check(expression, pose, body)
        with torch.inference_mode(), cpu_threads(self.device):
            g = self.model.gaussians(e, p, b, fixed=self._fixed)
            return needle_count(g, self.model.K, self.size)

    def render(self, expression: Tensor, pose: Tensor, body: Tensor, *,
               size: int | None = None) -> Tensor:
        """[B, S, S, 3] uint8 full frames composited over the background."""
        img = self.render_float(expression, pose, body, size=size)
        with torch.inference_mode():
            return (img * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
