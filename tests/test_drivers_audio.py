"""read_audio / iter_audio on files made here: every container the encoders in PyAV's
wheel can write, a video with and without sound, and broken files."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from _speech_media import write_audio, write_video
from avatarzoo.drivers.audio import audio_start, iter_audio, read_audio
from avatarzoo.errors import InputError

SR = 16_000


def _sine(rate: int, seconds: float, f: float = 440.0, amps=(0.5, 0.3)) -> np.ndarray:
    """[len(amps), n] in-phase sines, one amplitude per channel."""
    t = np.arange(int(round(rate * seconds))) / rate
    return np.stack([a * np.sin(2 * np.pi * f * t) for a in amps])


def _frequency(x: np.ndarray, rate: int = SR) -> float:
    """The strongest frequency, by a Hann-windowed FFT peak with parabolic interpolation."""
    n = len(x)
    spec = np.abs(np.fft.rfft(x * np.hanning(n), 8 * n))
    k = int(np.argmax(spec))
    a, b, c = np.log(spec[k - 1:k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * rate / (8 * n)


# (suffix, codec, rate, lossless)
FORMATS = [
    ("wav", "pcm_s16le", 44100, True),
    ("flac", "flac", 44100, True),
    ("mp3", "libmp3lame", 44100, False),
    ("ogg", "libopus", 48000, False),
    ("m4a", "aac", 44100, False),
]


@pytest.mark.parametrize("suffix,codec,rate,lossless", FORMATS, ids=[f[0] for f in FORMATS])
def test_a_stereo_sine_comes_back_16k_mono_at_the_same_pitch_and_length(tmp_path, suffix, codec, rate, lossless):
    seconds = 1.5
    path = write_audio(tmp_path / f"tone.{suffix}", _sine(rate, seconds), rate, codec=codec)
    a = read_audio(path)
    assert a.dtype == np.float32 and a.ndim == 1
    # same duration within one sample per 100 ms
    assert abs(len(a) - seconds * SR) <= seconds * 10, len(a)
    mid = a[len(a) // 4: 3 * len(a) // 4]
    assert abs(_frequency(mid) - 440.0) < 0.5
    # the mean of the channels: (0.5 + 0.3) / 2; lossy codecs within 5 %
    peak = np.sqrt(2) * np.sqrt(np.mean(mid.astype(np.float64) ** 2))
    assert peak == pytest.approx(0.4, rel=2e-3 if lossless else 0.05)
    assert np.abs(a).max() <= 1.0


def test_time_alignment_is_kept_through_resampling(tmp_path):
    rate = 44100
    x = np.zeros((1, rate))
    x[0, 22050] = 0.9  # 0.5 s
    a = read_audio(write_audio(tmp_path / "click.wav", x, rate, codec="pcm_s16le"))
    assert int(np.argmax(np.abs(a))) == 8000
    assert audio_start(tmp_path / "click.wav") == 0.0


def test_full_scale_stereo_stays_in_range(tmp_path):
    """Both channels at full scale, in phase: libswresample's own mono mix would give
    1.41; the mean gives 1."""
    a = read_audio(write_audio(tmp_path / "loud.wav", _sine(44100, 0.5, amps=(1.0, 1.0)), 44100, codec="pcm_s16le"))
    assert 0.99 < np.abs(a).max() <= 1.0


def test_mp3_encoder_delay_is_in_audio_start_not_in_the_samples(tmp_path):
    path = write_audio(tmp_path / "tone.mp3", _sine(44100, 1.0), 44100, codec="libmp3lame")
    assert len(read_audio(path)) == SR
    assert audio_start(path) == pytest.approx(1105 / 44100, abs=1e-4)  # LAME's delay, skipped by the decoder


def test_a_video_gives_its_audio_track(tmp_path):
    audio = _sine(44100, 2.0)
    path = write_video(tmp_path / "talk.mp4", 50, fps=25, audio=audio, rate=44100)
    a = read_audio(path)
    assert abs(len(a) - 2.0 * SR) <= 20
    assert abs(_frequency(a[8000:24000]) - 440.0) < 0.5


def test_a_silent_file_is_zeros_not_an_error(tmp_path):
    a = read_audio(write_audio(tmp_path / "quiet.wav", np.zeros((2, 22050)), 44100, codec="pcm_s16le"))
    assert len(a) == 8000 and not a.any()


@pytest.mark.parametrize("chunk", [1, 160, 641, 4097, 16000, 10**6])
def test_iter_audio_concatenates_to_read_audio(tmp_path, chunk):
    rng = np.random.default_rng(0)
    x = np.clip(rng.normal(0, 0.2, (2, 3 * 44100 + 17)), -1, 1)
    path = write_audio(tmp_path / "noise.flac", x, 44100, codec="flac")
    chunks = list(iter_audio(path, chunk_samples=chunk))
    assert all(len(c) == chunk for c in chunks[:-1]) and 1 <= len(chunks[-1]) <= chunk
    assert all(c.dtype == np.float32 and c.ndim == 1 for c in chunks)
    np.testing.assert_array_equal(np.concatenate(chunks), read_audio(path))


def _one_line_naming(err: pytest.ExceptionInfo, path) -> str:
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg, msg
    return msg


def test_a_video_without_audio_is_a_clear_error(tmp_path):
    path = write_video(tmp_path / "mute.mp4", 10)
    with pytest.raises(InputError) as e:
        read_audio(path)
    assert "no audio stream" in _one_line_naming(e, path)


def _truncate(path, fraction):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


@pytest.mark.parametrize("name,make,fraction,says", [
    ("cut.wav", lambda p: write_audio(p, _sine(44100, 2.0), 44100, codec="pcm_s16le"), 0.5, "truncated"),
    ("cut.mp3", lambda p: write_audio(p, _sine(44100, 3.0), 44100, codec="libmp3lame"), 0.5, "truncated"),
    ("cut.flac", lambda p: write_audio(p, _sine(44100, 2.0), 44100, codec="flac"), 0.5, "cannot be decoded"),
    ("cut.mp4", lambda p: write_video(p, 25, audio=_sine(44100, 1.0)), 0.5, "not readable"),
])
def test_truncated_files_are_clear_errors(tmp_path, name, make, fraction, says):
    path = _truncate(make(tmp_path / name), fraction)
    with pytest.raises(InputError) as e:
        read_audio(path)
    assert says in _one_line_naming(e, path)
    with pytest.raises(InputError):  # streaming raises too, at the latest after the last chunk
        list(iter_audio(path, chunk_samples=1000))


def test_broken_and_empty_inputs_are_clear_errors(tmp_path):
    rnd = tmp_path / "noise.mp3"
    rnd.write_bytes(np.random.default_rng(1).bytes(20000))
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    nothing = tmp_path / "nothing.wav"  # a valid header, a data chunk of 0 bytes
    with wave.open(str(nothing), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
    for path, says in [(rnd, "not readable"), (empty, "empty (0 bytes)"), (nothing, "0 samples"),
                       (tmp_path / "missing.wav", "no such file")]:
        with pytest.raises(InputError) as e:
            read_audio(path)
        assert says in _one_line_naming(e, path)


def test_chunk_samples_is_checked(tmp_path):
    path = write_audio(tmp_path / "x.wav", np.zeros((1, 100)), 16000, codec="pcm_s16le")
    for bad in (0, -5, 1.5, True):
        with pytest.raises(ValueError, match="chunk_samples"):
            list(iter_audio(path, chunk_samples=bad))


def test_iter_audio_holds_a_chunk_not_the_file(tmp_path):
    """60 s of audio is 3.8 MB as float32; iterating it in 0.1 s chunks allocates (in
    Python/numpy, which tracemalloc sees) a small fraction of that at any time."""
    import tracemalloc

    path = tmp_path / "long.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(np.random.default_rng(2).integers(-3000, 3000, 60 * 16000, dtype=np.int16).tobytes())
    next(iter_audio(path, chunk_samples=1))  # PyAV's imports and first-use allocations, before measuring
    tracemalloc.start()
    try:
        n = sum(len(c) for c in iter_audio(path, chunk_samples=1600))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == 60 * 16000
    assert peak < 500_000, peak  # measured: 39 kB; read_audio: 7.7 MB
