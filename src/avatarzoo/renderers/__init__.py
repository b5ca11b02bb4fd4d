"""Renderers: trained per avatar, they turn (expression, head pose, body pose) into
full frames. `gaussian/` is the full-frame Gaussian splatting avatar (stage
`fit_renderer`, kind `gaussian`). No torch import here (the CLI starts fast)."""
