"""Phones: pocketsphinx allphone decoding of espeak-ng speech puts the bilabials where
espeak says it spoke them; silence is SIL; the stream is the offline result for any
chunking, and a frame never depends on audio past its lookahead."""

from __future__ import annotations

import numpy as np
import pytest

from _speech_media import espeak, resample_to_16k
from avatarzoo.drivers.features import phones
from avatarzoo.drivers.features.phones import PHONES, Phones

SR = 16_000
LEAD = 0.5  # s of digital silence before the speech
BILABIAL = {PHONES.index(p) for p in ("P", "B", "M")}


def _utterance(text: str) -> tuple[np.ndarray, list[float]]:
    """16 kHz audio (0.5 s of zeros, the speech, 1 s of zeros) and the times (s) at
    which espeak-ng starts its bilabial phonemes."""
    x, rate, events = espeak(text)
    audio = np.concatenate([np.zeros(int(LEAD * SR)), resample_to_16k(x, rate), np.zeros(SR)])
    return audio, [LEAD + t for t, p in events if p in ("p", "b", "m")]


@pytest.fixture(scope="module")
def papa():
    return _utterance("papa mama baba")


def _runs(labels):
    """[(phone, first frame)] of the runs of equal labels."""
    edges = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], edges])
    return [(int(labels[s]), int(s)) for s in starts]


@pytest.mark.parametrize("text", ["papa mama baba", "mama papa bob"])
def test_bilabials_appear_where_espeak_spoke_them(text):
    audio, times = _utterance(text)
    assert len(times) == 6
    labels = Phones().labels(audio)
    centre = (np.arange(len(labels)) + 0.5) / 100  # hop centres, s
    is_bilabial = np.isin(labels, list(BILABIAL))
    for t in times:  # each espeak bilabial: a decoded P/B/M within 50 ms
        near = np.abs(centre - t) <= 0.05
        assert is_bilabial[near].any(), (t, [(PHONES[p], f) for p, f in _runs(labels)])
    for p, first in _runs(labels):  # and no decoded bilabial far from one
        if p in BILABIAL:
            assert min(abs(first / 100 - t) for t in times) <= 0.06, (PHONES[p], first, times)
    # the leading silence (digital zeros) and the trailing one are SIL
    assert (labels[:int(LEAD * 100) - 2] == phones.SIL).all()
    assert (labels[-60:] == phones.SIL).all()


def test_silence_is_sil():
    out = Phones()(np.zeros(SR + 77))
    assert out.shape == (100, 40)
    assert (out[:, phones.SIL] == 1).all() and out.sum() == 100


def test_one_hot_on_the_grid(papa):
    audio, _ = papa
    audio = audio[:len(audio) - 55]  # a partial last hop makes no frame
    out = Phones()(audio)
    assert out.shape == (len(audio) // 160, len(PHONES)) and out.dtype == np.float32
    np.testing.assert_array_equal(out.sum(1), 1.0)
    assert len(set(PHONES)) == 40 and PHONES[0] == "SIL"
    assert phones.phone_index("+NSN+") == phones.phone_index("+SPN+") == phones.SIL


@pytest.mark.parametrize("chunk", [160, 641, 4000, 16000])
def test_streaming_in_any_chunks_equals_offline_with_a_300_ms_lookahead(papa, chunk):
    audio, _ = papa
    ex = Phones()
    assert ex.lookahead == 30
    s = ex.stream()
    parts, emitted = [], 0
    for i in range(0, len(audio), chunk):
        parts.append(s.push(audio[i:i + chunk]))
        emitted += len(parts[-1])
        assert emitted == max(0, min(i + chunk, len(audio)) // 160 - 30)
    parts.append(s.flush())
    np.testing.assert_array_equal(np.concatenate(parts), ex(audio))


def test_a_frame_never_depends_on_audio_past_its_lookahead(papa):
    audio, _ = papa
    ex = Phones()
    cut = 16000 + 77  # 1 s: mid-utterance
    other = audio.copy()
    other[cut:] = np.random.default_rng(0).normal(0, 0.2, len(audio) - cut)
    a, b = ex.labels(audio), ex.labels(other)
    fixed = cut // 160 - 30  # frames emitted once `cut` samples arrived
    np.testing.assert_array_equal(a[:fixed], b[:fixed])
    assert (a != b).any()


def test_long_audio_restarts_the_decoder_at_a_pause_and_still_matches(monkeypatch, papa):
    """Utterances end after SOFT_UTT frames at the first 300 ms of silence (here 2 s,
    so three repetitions make several utterances)."""
    monkeypatch.setattr(phones, "SOFT_UTT", 200)
    audio, times = papa
    three = np.concatenate([audio] * 3)
    s = Phones().stream()
    parts = [s.push_labels(three[i:i + 999]) for i in range(0, len(three), 999)]
    restarted_at = s._utt_start
    parts.append(s.flush_labels())
    labels = np.concatenate(parts)
    assert restarted_at > 0
    np.testing.assert_array_equal(labels, Phones().labels(three))
    centre = (np.arange(len(labels)) + 0.5) / 100
    for k in range(3):
        for t in times:
            near = np.abs(centre - (t + k * len(audio) / SR)) <= 0.05
            assert np.isin(labels[near], list(BILABIAL)).any(), (k, t)


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="audio"):
        Phones()(np.zeros((100, 2)))
    with pytest.raises(ValueError, match="lookahead"):
        Phones(lookahead=-1)
    s = Phones().stream()
    s.flush()
    with pytest.raises(ValueError, match="flushed"):
        s.push(np.zeros(10))
