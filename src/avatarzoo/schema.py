"""JSON Schemas generated from the pydantic models (`avatarzoo schema`)."""

from __future__ import annotations

import json
from pathlib import Path


def schemas() -> dict[str, dict]:
    from avatarzoo.catalog import BundleMetadata, Catalog
    from avatarzoo.recipe.models import Recipe

    out = {}
    for name, model in [("recipe", Recipe), ("bundle-metadata", BundleMetadata), ("catalog", Catalog)]:
        s = model.model_json_schema(by_alias=True)
        s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        s["$id"] = f"https://avatarzoo.dev/schemas/{name}.schema.json"
        out[f"{name}.schema.json"] = s
    return out


def render(schema: dict) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, s in schemas().items():
        (directory / name).write_text(render(s))
        written.append(directory / name)
    return written
