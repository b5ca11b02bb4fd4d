"""The model card: Hugging Face front matter from typed data, then a Markdown body.

Front matter is made by `huggingface_hub.ModelCardData` (library_name, license, tags,
model-index with the evaluation metrics), never by string concatenation; it is read
back with `yaml.safe_load`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml


@dataclass(frozen=True)
class Metric:
    name: str  # human name, e.g. "PSNR full frame (dB)"
    type: str  # machine id, e.g. "psnr_full"
    value: float


@dataclass(frozen=True)
class CardData:
    avatar_id: str
    license: str
    consent: str
    source: str
    description: str
    tags: tuple[str, ...]
    recipe_sha256: str
    space: str
    size: int
    fps: float
    n_frames: int
    metrics: tuple[Metric, ...] = ()
    preview: str | None = None  # file name of a preview image inside the bundle
    stages: dict[str, str] = field(default_factory=dict)  # stage -> key
    renderer: str = ""  # one line on the renderer's size, e.g. its Gaussians


def render_card(data: CardData) -> str:
    from huggingface_hub import EvalResult, ModelCardData

    results = [
        EvalResult(
            task_type="talking-head-synthesis",
            task_name="Held-out frames of the recording",
            dataset_type="holdout",
            dataset_name=f"{data.avatar_id} held-out frames",
            metric_type=m.type,
            metric_name=m.name,
            metric_value=round(float(m.value), 4),
        )
        for m in data.metrics
    ]
    front = ModelCardData(
        library_name="avatarzoo",
        license=data.license,
        tags=["avatarzoo", "talking-head", "gaussian-splatting", *data.tags],
        model_name=data.avatar_id,
        eval_results=results or None,
    ).to_yaml()
    lines = [
        "---",
        front.rstrip(),
        "---",
        "",
        f"# {data.avatar_id}",
        "",
        data.description or "A personal talking-head avatar built by avatarzoo.",
        "",
        "```python",
        "import avatarzoo",
        f'avatar = avatarzoo.load("{data.avatar_id}")',
        "frame = avatar.render(expression)  # H×W×3 uint8, full frame",
        "```",
        "",
        "## Recording and consent",
        "",
        f"- Consent: {data.consent}",
        f"- Source: {data.source or 'not stated'}",
        f"- Frames: {data.n_frames} at {data.fps:g} fps, rendered at {data.size}×{data.size}",
        "",
        "## Build",
        "",
        f"- Expression space: `{data.space}`",
        f"- Resolved recipe sha256: `{data.recipe_sha256}`",
    ]
    if data.renderer:
        lines.append(f"- Renderer: {data.renderer}")
    lines += [f"- Stage `{k}`: `{v}`" for k, v in data.stages.items()]
    if data.metrics:
        lines += ["", "## Evaluation (held-out frames)", "", "| metric | value |", "|---|---|"]
        lines += [f"| {m.name} | {m.value:.4g} |" for m in data.metrics]
    if data.preview:
        lines += ["", f"![held-out frames: ground truth above, render below]({data.preview})"]
    return "\n".join(lines) + "\n"


def read_front_matter(card: str) -> dict:
    """The YAML front matter of a card, read with `yaml.safe_load`."""
    if not card.startswith("---\n"):
        return {}
    end = card.find("\n---", 4)
    return yaml.safe_load(card[4:end]) or {}
