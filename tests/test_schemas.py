"""schemas/*.json are generated from the models; every shipped recipe validates."""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from avatarzoo.schema import render, schemas

ROOT = Path(__file__).resolve().parent.parent
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("name", sorted(schemas()))
def test_schema_file_is_current(name):
    path = ROOT / "schemas" / name
    assert path.is_file(), f"{path} missing: run `avatarzoo schema`"
    assert path.read_text() == render(schemas()[name]), f"{path} is stale: run `avatarzoo schema`"


def test_there_are_recipes():
    assert RECIPES


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_recipe_validates_against_schema(recipe):
    schema = json.loads((ROOT / "schemas" / "recipe.schema.json").read_text())
    jsonschema.validate(yaml.safe_load(recipe.read_text()), schema)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_recipe_loads_with_every_profile(recipe):
    from avatarzoo.recipe import load_recipe

    base = load_recipe(recipe)
    for profile in yaml.safe_load(recipe.read_text()).get("profiles", {}):
        assert load_recipe(recipe, profile=profile).id == base.id


def test_schema_rejects_unknown_key():
    schema = json.loads((ROOT / "schemas" / "recipe.schema.json").read_text())
    data = yaml.safe_load((ROOT / "recipes" / "demo-v1.yaml").read_text())
    data["renderer"]["gausians"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


def test_catalog_validates():
    from avatarzoo.catalog import Catalog

    data = yaml.safe_load((ROOT / "zoo" / "catalog.yaml").read_text())
    Catalog.model_validate(data)
    jsonschema.validate(data, json.loads((ROOT / "schemas" / "catalog.schema.json").read_text()))
