"""Audio-driver kinds of the recipe (speech → expressions) and their speech features."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from avatarzoo.kinds import KindConfig, config_union


class Wav2Vec2Features(KindConfig, family="audio_features", parts={
    "extractor": "avatarzoo.drivers.features.ssl:SelfSupervised",
}):
    kind: Literal["wav2vec2"] = "wav2vec2"
    model: str = "facebook/wav2vec2-base-960h"


class LogMelFeatures(KindConfig, family="audio_features", parts={
    "extractor": "avatarzoo.drivers.features.logmel:LogMel",
}):
    kind: Literal["logmel"] = "logmel"
    n_mels: int = Field(80, ge=8)


AudioFeatures = config_union("audio_features")


class TransformerDriverConfig(KindConfig, family="audio_driver", parts={
    "stage": "avatarzoo.drivers.stage:run",
    "runtime": "avatarzoo.drivers.runtime:AudioDriver",
}):
    """Speech → expression codes."""

    kind: Literal["transformer"] = "transformer"
    space: str = Field("face-64", description="The expression space it produces.")
    features: AudioFeatures = LogMelFeatures()
    steps: int = Field(2000, ge=1)
