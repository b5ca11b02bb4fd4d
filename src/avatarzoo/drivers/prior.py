"""The person-independent prior: a `SpeechToFace` net fitted on several recordings of
several people, shipped in the package, that a new avatar's driver starts from.

It predicts the named channels of the speech regions (brows, mouth, jaw, cheeks) as
z-scores of each recording's own spread, so that it carries no one's amplitude: an
avatar's driver takes its trunk and those channels' rows of its head, the avatar's own
means and spreads, and fine-tunes on the avatar's recording (fitting.py).

Files: `priors/<space>.<features kind>.safetensors` (the net's tensors) and `.json`
(net shape, feature config, channel names, the recordings it was fitted on, their
licence and provenance), with a model card `.md` beside them. `scripts/build_prior.py`
rebuilds them.

Shapes: P prior channels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from avatarzoo.errors import BundleError

PRIOR_DIR = Path(__file__).resolve().parent / "priors"
PRIOR_REGIONS = ("brows", "mouth", "jaw", "cheeks")


@dataclass(frozen=True)
class Prior:
    name: str
    tensors: dict  # str -> torch.Tensor, the net's state dict
    config: dict  # the .json: net, features, channels, recordings

    @property
    def channels(self) -> list[str]:
        return list(self.config["channels"])


def prior_name(space: str, features_kind: str) -> str:
    return f"{space}.{features_kind}"


def find_prior(space: str, features: dict, directory: Path = PRIOR_DIR) -> Prior | None:
    """The shipped prior for this space and exactly these feature settings, or None."""
    from safetensors.torch import load_file

    name = prior_name(space, features["kind"])
    weights, meta = directory / f"{name}.safetensors", directory / f"{name}.json"
    if not weights.is_file() or not meta.is_file():
        return None
    config = json.loads(meta.read_text())
    if config.get("features") != features or config.get("space") != space:
        return None
    try:
        return Prior(name, load_file(str(weights)), config)
    except Exception as e:  # a corrupt shipped file is an installation problem, said plainly
        raise BundleError(f"{weights}: the shipped prior cannot be read ({e}); reinstall avatarzoo") from None
