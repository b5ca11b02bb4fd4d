"""The stage contracts (avatarzoo.contracts): one typed reader per output file, and
a clear error naming the file for each way it can be wrong."""

import json

import numpy as np
import pytest

from avatarzoo.contracts.ingest import IngestInfo, IngestOutput
from avatarzoo.errors import InputError

INFO = {"fps": 25, "n_frames": 3, "size": 8, "holdout_start": 2, "crop_box": [0, 0, 8, 8]}


def test_ingest_output_names_the_bad_file(tmp_path):
    with pytest.raises(InputError, match="ingest.json: missing"):
        IngestOutput.open(tmp_path)
    (tmp_path / "ingest.json").write_text("{")
    with pytest.raises(InputError, match="ingest.json"):
        IngestOutput.open(tmp_path)
    (tmp_path / "ingest.json").write_text(json.dumps({**INFO, "holdout_start": 9}))
    with pytest.raises(InputError, match="ingest.json.*holdout_start 9 is past n_frames 3"):
        IngestOutput.open(tmp_path)
    (tmp_path / "ingest.json").write_text(json.dumps({**INFO, "fps": "fast"}))
    with pytest.raises(InputError, match="ingest.json: fps"):
        IngestOutput.open(tmp_path)
    (tmp_path / "ingest.json").write_text(json.dumps(INFO))
    with pytest.raises(InputError, match="frames.npy"):
        IngestOutput.open(tmp_path)
    np.save(tmp_path / "frames.npy", np.zeros((4, 8, 8, 3), np.uint8))
    with pytest.raises(InputError, match=r"frames.npy: expected uint8 \[3, 8, 8, 3\]"):
        IngestOutput.open(tmp_path)
    np.save(tmp_path / "frames.npy", np.zeros((3, 8, 8, 3), np.uint8))
    out = IngestOutput.open(tmp_path)
    assert out.info.train == slice(0, 2) and out.masks is None and out.audio() is None
    assert np.allclose(out.time, [0, 0.04, 0.08])  # no time.npy: the frame grid


def test_ingest_info_round_trips_and_refuses_unknown_keys(tmp_path):
    info = IngestInfo.model_validate({**INFO, "audio": {"sample_rate": 16000, "offset": 0.01,
                                                         "samples": 100, "file": "a.mp4"}})
    info.write(tmp_path)
    assert IngestInfo.read(tmp_path) == info
    (tmp_path / "ingest.json").write_text(json.dumps({**INFO, "colour": "blue"}))
    with pytest.raises(InputError, match="ingest.json: colour"):
        IngestInfo.read(tmp_path)
