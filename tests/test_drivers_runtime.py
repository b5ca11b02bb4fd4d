"""The trained audio driver of the smoke build (profile smoke: the real stages on 6 s
of the demo clip): offline and streamed motion are the same frames, frames carry the
audio they belong to, bad audio is one clear error, silence is a still, closed mouth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import avatarzoo
from avatarzoo.errors import AvatarZooError, InputError

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT / "data" / "speech-espeak.wav"


@pytest.fixture(scope="module")
def avatar(smoke_build):
    cache, _ = smoke_build
    return avatarzoo.load(cache / "bundles" / "demo-v1")


@pytest.fixture(scope="module")
def speech():
    from avatarzoo.drivers.audio import read_audio

    return read_audio(SPEECH)[: 16000 * 4]


def test_the_bundle_carries_the_driver_and_its_numbers(avatar):
    config = avatar.bundle.config["audio_driver"]
    assert config["kind"] == "tcn" and config["prior"] == "face-64.logmel"  # it started from the shipped prior
    assert config["av_offset"]["estimated"] and 0.1 < config["av_offset"]["seconds"] < 0.35
    assert config["lead_s"] == pytest.approx(min(config["av_offset"]["seconds"], 0.3))
    assert avatar.bundle.metadata["avatarzoo.audio_driver"] == "tcn"


@pytest.mark.parametrize("chunk", [320, 640, 1111, 16000])
def test_streamed_motion_is_the_offline_motion(avatar, speech, chunk):
    whole = avatar.driver.drive(speech, seed=5)
    stream = avatar.driver.stream(seed=5)
    parts = [stream.push(speech[i:i + chunk]) for i in range(0, len(speech), chunk)] + [stream.flush()]
    from avatarzoo.drivers.runtime import Motion

    got = Motion.concat(parts)
    assert len(got) == len(whole) == int(np.ceil(len(speech) / 16000 * avatar.fps))
    # the same recursions on the same samples; chunking changes float sums only
    np.testing.assert_allclose(got.expression, whole.expression, atol=1e-4)
    np.testing.assert_allclose(got.pose, whole.pose, atol=1e-5)
    np.testing.assert_array_equal(got.time, np.arange(len(got)) / avatar.fps)


def test_frames_carry_their_audio_and_timestamps(avatar, speech):
    frames = list(avatar.stream([speech[i:i + 640] for i in range(0, len(speech), 640)]))
    assert [f.index for f in frames] == list(range(len(frames)))
    np.testing.assert_allclose([f.time for f in frames], np.arange(len(frames)) / avatar.fps)
    heard = np.concatenate([f.audio for f in frames])
    np.testing.assert_array_equal(heard, speech[:len(heard)])
    assert abs(len(heard) - len(speech)) < 16000 / avatar.fps
    assert frames[0].image.shape == (avatar.size, avatar.size, 3) and frames[0].image.dtype == np.uint8


def test_a_frame_waits_only_for_the_latency(avatar, speech):
    """Frame k leaves once the audio up to k / fps + latency has been pushed."""
    d = avatar.driver
    stream = d.stream()
    pushed, emitted_at = 0, {}
    for i in range(0, len(speech), 160):
        m = stream.push(speech[i:i + 160])
        pushed += len(speech[i:i + 160])
        for t in m.time:
            emitted_at[round(t * d.fps)] = pushed / 16000
    waits = [emitted_at[k] - k / d.fps for k in sorted(emitted_at)]
    assert max(waits) <= d.latency_s() + 0.011 and min(waits) >= d.latency_s() - 0.011


def test_seeds_change_the_life_not_the_mouth(avatar, speech):
    a, b = avatar.driver.drive(speech, seed=1), avatar.driver.drive(speech, seed=2)
    mouth = avatar.space.channel("mouth_open")
    np.testing.assert_allclose(a.expression[:, mouth], b.expression[:, mouth])
    assert not np.allclose(a.pose, b.pose)


def test_silence_is_a_still_closed_mouth_with_life(avatar):
    m = avatar.driver.drive(np.zeros(16000 * 3, np.float32), seed=0)
    mouth = m.expression[:, avatar.space.channel("mouth_open")]
    silence = avatar.driver.silence[avatar.space.channel("mouth_open")]
    np.testing.assert_allclose(mouth, silence, atol=1e-6)  # the closed-mouth code, held
    assert m.activity.max() == 0.0
    assert np.ptp(m.pose[:, 0, 3]) > 0  # the head still moves (idle life)


def test_any_audio_file_or_a_clear_error(avatar, tmp_path):
    import av

    # a stereo 44.1 kHz file: resampled and mixed down
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)]).astype(np.float32) * 0.3
    with av.open(str(tmp_path / "stereo.wav"), "w") as c:
        s = c.add_stream("pcm_s16le", rate=44100, layout="stereo")
        frame = av.AudioFrame.from_ndarray((stereo * 32767).astype(np.int16).T.reshape(1, -1), format="s16",
                                           layout="stereo")
        frame.sample_rate = 44100
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode():
            c.mux(p)
    assert len(avatar.expressions_from_audio(tmp_path / "stereo.wav")) == 25
    # the demo video given as audio: its sound track
    assert len(avatar.expressions_from_audio(ROOT / "data" / "obama-address-20s.mp4")) == 500
    (tmp_path / "junk.wav").write_bytes(b"RIFF" + bytes(range(200)))
    with pytest.raises(InputError, match="junk.wav"):
        avatar.expressions_from_audio(tmp_path / "junk.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(InputError, match="empty.wav"):
        avatar.speak(tmp_path / "empty.wav", tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()


def test_an_avatar_without_a_driver_says_so(smoke_build, tmp_path):
    import shutil

    from avatarzoo.bundle.io import read_bundle, write_bundle

    cache, _ = smoke_build
    b = read_bundle(cache / "bundles" / "demo-v1")
    tensors = {k: v for k, v in b.tensors().items() if not k.startswith("audio_driver.")}
    config = {k: v for k, v in b.config.items() if k != "audio_driver"}
    meta = {**b.metadata, "avatarzoo.audio_driver": "none"}
    write_bundle(tmp_path / "mute", tensors=tensors, metadata=meta, config=config, card=b.card)
    mute = avatarzoo.load(tmp_path / "mute")
    assert mute.render().shape[2] == 3
    with pytest.raises(AvatarZooError, match="has no audio driver.*audio_driver"):
        mute.speak(SPEECH, tmp_path / "x.mp4")
    shutil.rmtree(tmp_path / "mute")
    json.dumps(config)  # the config left is plain data


def test_a_one_net_driver_of_format_1_still_loads_and_a_bad_ensemble_is_refused(avatar, speech):
    """Bundles written before the driver became an ensemble (format 1: one net, its
    tensors under `net.`) drive as an ensemble of that one net; a bundle that asks for
    an absurd number of nets is one BundleError."""
    import copy

    from avatarzoo.drivers.runtime import AudioDriver
    from avatarzoo.errors import BundleError

    tensors = avatar.bundle.tensors("audio_driver.")
    config = avatar.bundle.config["audio_driver"]
    first = {k: v for k, v in tensors.items() if not k.startswith("net.") or k.startswith("net.members.0.")}
    one = copy.deepcopy(config)
    one["net"]["members"] = 1
    old = copy.deepcopy(one)
    old["format_version"] = 1
    del old["net"]["members"]
    old_tensors = {k.replace("net.members.0.", "net."): v for k, v in first.items()}
    a = AudioDriver.from_tensors(first, one).drive(speech, seed=1)
    b = AudioDriver.from_tensors(old_tensors, old).drive(speech, seed=1)
    np.testing.assert_array_equal(a.expression, b.expression)
    bad = copy.deepcopy(config)
    bad["net"]["members"] = 10 ** 6
    with pytest.raises(BundleError, match="members"):
        AudioDriver.from_tensors(tensors, bad)
