"""Typed recipes: the models, loading with file:line errors, profiles."""

from avatarzoo.recipe.io import LoadedRecipe, load_recipe
from avatarzoo.recipe.models import Recipe

__all__ = ["LoadedRecipe", "Recipe", "load_recipe"]
