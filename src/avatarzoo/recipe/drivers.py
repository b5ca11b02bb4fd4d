"""Audio-driver kinds of the recipe (speech → expressions) and their speech features."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from avatarzoo.kinds import KindConfig, config_union


class LogMelFeatures(KindConfig, family="audio_features", parts={
    "extractor": "avatarzoo.drivers.features.logmel:LogMel",
}):
    """Log-mel filterbank (25 ms windows every 10 ms) and prosody; needs no weights."""

    kind: Literal["logmel"] = "logmel"
    n_mels: int = Field(40, ge=8, le=128, description="Mel bands, 80-7600 Hz.")
    prosody: bool = Field(True, description="Also log energy, log pitch and voicing.")


class PhoneFeatures(KindConfig, family="audio_features", parts={
    "extractor": "avatarzoo.drivers.features.phones:Phones",
}):
    """Phone posteriors from pocketsphinx's English acoustic model (allphone decoding,
    shipped in its wheel): one-hot phones every 10 ms, the route Rhubarb Lip Sync takes."""

    kind: Literal["phones"] = "phones"


class _SelfSupervised(KindConfig):
    model: str = Field(description="Hugging Face model id (or a local directory), loaded from the HF cache.")
    layer: int | None = Field(None, ge=0, description="Hidden layer to use; default: the last.")


class Wav2Vec2Features(_SelfSupervised, family="audio_features", parts={
    "extractor": "avatarzoo.drivers.features.ssl:SelfSupervised",
}):
    kind: Literal["wav2vec2"] = "wav2vec2"
    model: str = "facebook/wav2vec2-base-960h"


class HubertFeatures(_SelfSupervised, family="audio_features", parts={
    "extractor": "avatarzoo.drivers.features.ssl:SelfSupervised",
}):
    kind: Literal["hubert"] = "hubert"
    model: str = "facebook/hubert-base-ls960"


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
