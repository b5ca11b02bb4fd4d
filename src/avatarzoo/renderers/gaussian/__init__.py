"""Full-frame Gaussian avatar: head, hair, neck and shoulders as 3D Gaussians moved by
the tracked head pose and shoulder line, a live face from an expression-conditioned
deformation, composited over the ingest background plate.

Modules: `rasterize` (public rasterizer, picks gsplat on CUDA or the PyTorch reference),
`model` (parameters and deformation), `init` (initial Gaussians from the tracked face
and the person mask), `train` (`fit`), `stage` (`run`, the `fit_renderer` stage) and
`runtime` (`GaussianRenderer`). Nothing here imports torch at package import.
"""
