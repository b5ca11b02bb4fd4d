"""Reading recipes: YAML or JSON → a validated, resolved `Recipe`, or one clear error.

Every error names the file, the line where it is known, the field path and what was
expected (`recipes/roman.yaml:14: renderer.gaussians: expected an integer, got 'many'`).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from avatarzoo.errors import RecipeError, did_you_mean
from avatarzoo.recipe.checks import check_recipe
from avatarzoo.recipe.locate import where as _where
from avatarzoo.recipe.models import Recipe


@dataclass(frozen=True)
class LoadedRecipe:
    """A recipe as resolved for one build: the recipe with its profile applied."""

    recipe: Recipe
    path: Path  # the recipe file
    profile: str | None

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def id(self) -> str:
        return self.recipe.id


# --- turning pydantic errors into sentences -----------------------------------------

_KIND_FIELDS = {"tracker", "renderer", "audio_driver", "smoothing", "features", "space_map"}


def _kind_tags() -> set[str]:
    """Every `kind` value of every component model (the discriminated unions' tags)."""
    defs = Recipe.model_json_schema().get("$defs", {})
    return {d["properties"]["kind"]["const"] for d in defs.values()
            if "const" in d.get("properties", {}).get("kind", {})}


def _field_path(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """pydantic puts the union tag into loc ('renderer', 'gaussian', 'steps'); drop it."""
    tags = _kind_tags()
    return tuple(
        part for i, part in enumerate(loc)
        if not (i > 0 and loc[i - 1] in _KIND_FIELDS and part in tags)
    )


def _model_fields_at(loc: tuple[Any, ...]) -> list[str]:
    """Field names allowed at the parent of `loc` (for 'did you mean' on unknown keys)."""
    schema = Recipe.model_json_schema()
    defs = schema.get("$defs", {})

    def resolve(s: dict) -> list[dict]:
        if "$ref" in s:
            return resolve(defs[s["$ref"].split("/")[-1]])
        for key in ("anyOf", "oneOf"):
            if key in s:
                return [r for sub in s[key] for r in resolve(sub)]
        return [s]

    candidates = [schema]
    for part in loc[:-1]:
        nxt = []
        for c in candidates:
            for r in resolve(c):
                if part in r.get("properties", {}):
                    nxt.append(r["properties"][part])
        candidates = nxt
    names: list[str] = []
    for c in candidates:
        for r in resolve(c):
            names.extend(r.get("properties", {}))
    return sorted(set(names))


def _describe(err: dict[str, Any], loc: tuple[Any, ...]) -> str:
    kind = err["type"]
    got = err.get("input")
    if kind == "extra_forbidden":
        name = str(loc[-1])
        allowed = _model_fields_at(loc)
        hint = did_you_mean(name, allowed)
        return f"unknown key '{name}'{hint}; expected one of: {', '.join(allowed)}"
    if kind == "missing":
        return "required field is missing"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        ctx = err.get("ctx", {})
        expected = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",") if t.strip()]
        if kind == "union_tag_not_found":
            return f"'kind' is missing; expected one of: {', '.join(expected)}"
        tag = str(ctx.get("tag", got))
        return (
            f"unknown kind '{tag}'{did_you_mean(tag, expected)}; known kinds: {', '.join(expected)}"
        )
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    shown = repr(got) if not isinstance(got, dict) else "a mapping"
    return f"{msg[0].lower()}{msg[1:]} (got {shown})"


def _raise_validation(path: Path, text: str, e: ValidationError, prefix: tuple[Any, ...] = ()) -> None:
    lines = []
    for err in e.errors():
        loc = prefix + tuple(err["loc"])
        fields = _field_path(loc)
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            fields = fields + ("kind",) if fields[-1:] != ("kind",) else fields
        where = _where(path, text, fields)
        dotted = ".".join(str(p) for p in fields) or "(top level)"
        lines.append(f"{where}: {dotted}: {_describe(err, fields)}")
    raise RecipeError("\n".join(lines))


# --- profiles -----------------------------------------------------------------------


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` merged into a copy of `base`; mappings merge, everything else replaces."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# --- the entry point ----------------------------------------------------------------


def parse_recipe_text(text: str, path: Path) -> dict[str, Any]:
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except json.JSONDecodeError as e:
        raise RecipeError(f"{path}:{e.lineno}: not valid JSON: {e.msg}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise RecipeError(f"{where}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise RecipeError(
            f"{path}: expected a mapping of recipe fields at the top level, got {type(data).__name__}"
        )
    return data


def load_recipe(path: str | Path, *, profile: str | None = None, check_files: bool = True) -> LoadedRecipe:
    """Read, validate and resolve the recipe at `path`, applying `profile` if given.

    With `check_files`, the files the recipe names must exist. Space compatibility is
    checked too (see `avatarzoo.recipe.checks`).
    """
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found")
    if path.suffix not in (".yaml", ".yml", ".json"):
        raise RecipeError(f"{path}: expected a .yaml, .yml or .json recipe, got '{path.suffix}'")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise RecipeError(f"{path}: not UTF-8 text (byte {e.start})") from None
    data = parse_recipe_text(text, path)
    try:
        base = Recipe.model_validate(data)
    except ValidationError as e:
        _raise_validation(path, text, e)
        raise  # unreachable
    if profile is not None:
        if profile not in base.profiles:
            known = ", ".join(sorted(base.profiles)) or "none"
            raise RecipeError(
                f"{path}: profile '{profile}' is not defined{did_you_mean(profile, base.profiles)};"
                f" profiles in this recipe: {known}"
            )
        merged = deep_merge({k: v for k, v in data.items() if k != "profiles"}, base.profiles[profile])
        try:
            resolved = Recipe.model_validate(merged)
        except ValidationError as e:
            _raise_validation(path, text, e, prefix=())
            raise
    else:
        resolved = base.model_copy(update={"profiles": {}})
    loaded = LoadedRecipe(recipe=resolved, path=path, profile=profile)
    check_recipe(resolved, path=path, text=text, check_files=check_files)
    return loaded


def where_in(loaded: LoadedRecipe, *loc: Any) -> str:
    """'file:line' of a field of a loaded recipe, for errors raised after validation."""
    text = loaded.path.read_text(encoding="utf-8")
    return _where(loaded.path, text, tuple(loc))
