"""One error family for everything a person can act on.

Every message says what was expected, what arrived and how to fix it. The CLI prints
these without a traceback and exits 2; anything else escaping is a bug.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class AvatarZooError(Exception):
    """Base of every error avatarzoo raises on purpose."""


class RecipeError(AvatarZooError):
    """A recipe file that cannot be read, parsed or validated."""


class SpaceError(AvatarZooError):
    """Expression spaces that don't fit together, or a malformed space."""


class InputError(AvatarZooError):
    """A recording, tracking file or other input that is missing or unusable."""


class StageError(AvatarZooError):
    """A build stage that failed or cannot run."""


class BundleError(AvatarZooError):
    """A bundle that is missing, incomplete, altered or of an unknown format."""


class NotFoundError(AvatarZooError):
    """A name (avatar id, kind, space) that resolves to nothing."""


class CatalogError(AvatarZooError):
    """A zoo catalog (zoo/catalog.yaml) that cannot be read, parsed or validated."""


class HubError(AvatarZooError):
    """The Hugging Face Hub (or the HF_ENDPOINT server) refused or could not be reached."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
