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


class TcnDriverConfig(KindConfig, family="audio_driver", parts={
    "stage": "avatarzoo.drivers.stage:run",
    "runtime": "avatarzoo.drivers.runtime:AudioDriver",
}):
    """Speech → the whole face: a causal temporal convolution net (mouth, jaw, lips,
    cheeks, brows from speech, with a fixed lookahead so that it streams) and the
    recording's own blinks, gaze and head motion re-sequenced (drivers/life.py)."""

    kind: Literal["tcn"] = "tcn"
    space: str = Field("face-64", description="The expression space it produces.")
    features: AudioFeatures = LogMelFeatures()
    lookahead_ms: int = Field(
        60, ge=0, le=400, description="Future speech each output may hear: the latency the model adds.")
    hidden: int = Field(64, ge=8, le=1024)
    layers: int = Field(5, ge=1, le=10, description="Blocks with dilations 1, 2, ... 2^(layers-1) (kernel 3).")
    dropout: float = Field(0.3, ge=0, lt=1)
    steps: int = Field(
        800, ge=1, description="Optimizer steps from scratch; a quarter of them adapt the prior.")
    batch_size: int = Field(8, ge=1, description="Windows of `window_s` per step.")
    window_s: float = Field(2.5, gt=0.5, le=30, description="Seconds of speech per training window.")
    lr: float = Field(2e-3, gt=0)
    validation: float = Field(
        0.15, ge=0, lt=0.5,
        description="Last fraction of the training frames kept for early stopping and amplitude"
        " calibration (never the held-out frames).")
    prior: Literal["builtin", "none"] = Field(
        "builtin", description="Start from the person-independent prior shipped with avatarzoo"
        " (when one exists for these features and space), or from scratch.")
    align: bool = Field(True, description="Estimate the recording's audio/video offset and train on aligned pairs.")
    offset_ms: float | None = Field(
        None, ge=-1000, le=1000,
        description="A known audio/video offset (positive: the mouth leads the sound); overrides the estimate.")
    seed: int = 0
    checkpoint_every: int = Field(250, ge=0, description="Steps between resume checkpoints; 0: never.")

    def key_material(self) -> dict:
        """The shipped prior this driver would start from, by content: refitting the
        prior reruns the drivers that use it."""
        if self.prior != "builtin":
            return {}
        from avatarzoo.drivers.prior import prior_file

        path = prior_file(self.space, self.features.kind)
        from avatarzoo.files import file_sha256

        return {"prior_sha256": file_sha256(path) if path.is_file() else None}
