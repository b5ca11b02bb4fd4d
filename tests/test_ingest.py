"""Ingest: lazy decoding (rotation, VFR -> constant fps), audio, crop, plate, holdout,
bad input. Synthetic videos are written with PyAV in a few milliseconds; the test on the
real recording uses its first 2 s at a small crop."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from avatarzoo.errors import InputError
from avatarzoo.ingest.audio import SAMPLE_RATE, load_audio
from avatarzoo.ingest.crop import Extents, choose_crop, crop_resize
from avatarzoo.ingest.plate import background_plate
from avatarzoo.ingest.stage import holdout_start, ingest_recording
from avatarzoo.ingest.video import iter_frames, probe
from avatarzoo.recipe.models import CropConfig, RecordingConfig

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "obama-address-20s.mp4"
if not DEMO.exists():
    DEMO = ROOT.parent / "shared" / "data" / "obama-address-20s.mp4"


def level_frame(k: int, w: int = 64, h: int = 48) -> np.ndarray:
    """A flat frame whose grey level encodes its index k (survives lossy coding)."""
    return np.full((h, w, 3), 10 + 12 * k, np.uint8)


def write_video(path: Path, frames: list[np.ndarray], *, fps: int = 25, times: list[float] | None = None,
                rotation: int = 0, audio_seconds: float | None = None) -> Path:
    """mp4 (mpeg4 video, optional AAC mono 440 Hz); `times` gives VFR timestamps."""
    with av.open(str(path), "w") as c:
        vs = c.add_stream("mpeg4", rate=fps)
        vs.height, vs.width = frames[0].shape[:2]
        vs.pix_fmt = "yuv420p"
        if times is not None:
            vs.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            vs.set_display_rotation(rotation)
        astream = None
        if audio_seconds:
            astream = c.add_stream("aac", rate=48000)
            astream.layout = "mono"
        for i, img in enumerate(frames):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            if times is not None:
                f.pts = int(round(times[i] * 1000))
                f.time_base = Fraction(1, 1000)
            for p in vs.encode(f):
                c.mux(p)
        for p in vs.encode(None):
            c.mux(p)
        if astream is not None:
            t = np.arange(int(48000 * audio_seconds)) / 48000
            af = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None],
                                            format="fltp", layout="mono")
            af.sample_rate = 48000
            for p in astream.encode(af):
                c.mux(p)
            for p in astream.encode(None):
                c.mux(p)
    return path


def decoded_levels(path: Path, fps: float) -> tuple[np.ndarray, np.ndarray]:
    out = [(t, int(round((img.mean() - 10) / 12))) for t, img in iter_frames(path, fps=fps)]
    return np.array([t for t, _ in out]), np.array([k for _, k in out])


# --- decoding ----------------------------------------------------------------------


def test_same_rate_maps_frame_k_to_tick_k(tmp_path):
    path = write_video(tmp_path / "v.mp4", [level_frame(k) for k in range(12)])
    t, k = decoded_levels(path, 25)
    assert k.tolist() == list(range(12))
    np.testing.assert_allclose(t, np.arange(12) / 25, atol=1e-6)


def test_downsampling_picks_the_nearest_frame(tmp_path):
    path = write_video(tmp_path / "v.mp4", [level_frame(k) for k in range(20)], fps=50)
    t, k = decoded_levels(path, 25)
    assert k.tolist() == list(range(0, 20, 2))
    np.testing.assert_allclose(np.diff(t), 0.04, atol=1e-6)


def test_variable_frame_rate_becomes_constant(tmp_path):
    # Frames at irregular times (a phone's VFR): 0, 30, 50, 130, 170, 210 ms.
    times = [0.0, 0.03, 0.05, 0.13, 0.17, 0.21]
    path = write_video(tmp_path / "v.mp4", [level_frame(k) for k in range(len(times))], times=times)
    t, k = decoded_levels(path, 25)
    np.testing.assert_allclose(t, np.arange(len(t)) * 0.04, atol=1e-6)
    # tick 0.00 -> f0; 0.04 -> f1 (0.03, nearer than 0.05); 0.08 -> f2 (0.05 vs 0.13);
    # 0.12 -> f3; 0.16 -> f4; 0.20 -> f5; 0.24 -> f5 (the last frame shows until 0.25)
    assert k.tolist() == [0, 1, 2, 3, 4, 5, 5][: len(k)]
    assert len(k) in (6, 7)


def test_rotation_metadata_turns_frames_upright(tmp_path):
    img = np.zeros((48, 64, 3), np.uint8)
    img[:8, :8] = 255  # top-left marker
    path = write_video(tmp_path / "v.mp4", [img] * 3, rotation=90)
    info = probe(path)
    assert (info.width, info.height, info.rotation) == (48, 64, 90)
    _, frame = next(iter_frames(path, fps=25))
    assert frame.shape == (64, 48, 3)
    ys, xs = np.nonzero(frame[..., 0] > 200)
    assert ys.mean() > 50 and xs.mean() < 10  # 90° counter-clockwise: top-left -> bottom-left


def test_start_and_duration_cut_the_grid(tmp_path):
    path = write_video(tmp_path / "v.mp4", [level_frame(k) for k in range(20)])
    out = [(t, int(round((img.mean() - 10) / 12))) for t, img in iter_frames(path, fps=25, start=0.2, duration=0.2)]
    assert [k for _, k in out] == [5, 6, 7, 8, 9]


# --- audio -------------------------------------------------------------------------


def test_audio_is_16k_mono_cut_to_the_frames(tmp_path):
    path = write_video(tmp_path / "v.mp4", [level_frame(k) for k in range(10)], audio_seconds=0.4)
    audio = load_audio(path, first_frame_time=0.0, end_time=0.4)
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert audio.sample_rate == SAMPLE_RATE
    assert abs(audio.samples.shape[0] - 0.4 * SAMPLE_RATE) <= 1
    assert abs(audio.offset) < 1 / SAMPLE_RATE
    spectrum = np.abs(np.fft.rfft(audio.samples[1000:5000]))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / 4000 - 440) < 10  # the tone survived resampling


def test_no_audio_stream_is_none(tmp_path):
    path = write_video(tmp_path / "v.mp4", [level_frame(k) for k in range(3)])
    assert load_audio(path, first_frame_time=0.0, end_time=1.0) is None


# --- crop, plate, holdout ------------------------------------------------------------


def test_head_and_shoulders_crop_holds_face_and_shoulders():
    ext = [Extents(face=np.array([800.0, 200.0, 1000.0, 460.0]), shoulders=np.array([[1150.0, 700.0], [650.0, 705.0]]))]
    x0, y0, x1, y1 = choose_crop(ext, width=1920, height=1080, frame="head-and-shoulders")
    assert x1 - x0 == y1 - y0
    assert y0 <= 200 - 0.5 * 260 and y1 >= 705 and x0 <= 650 and x1 >= 1150
    assert 0 <= x0 and x1 <= 1920 and 0 <= y0 and y1 <= 1080
    hx0, hy0, hx1, hy1 = choose_crop(ext, width=1920, height=1080, frame="head")
    assert hx1 - hx0 < x1 - x0 and hx0 <= 800 and hx1 >= 1000 and hy0 <= 200 and hy1 >= 460
    assert choose_crop(ext, width=1920, height=1080, frame="full") == (0, -420, 1920, 1500)


def test_a_tight_source_gives_the_largest_square_inside():
    ext = [Extents(face=np.array([140.0, 116.0, 326.0, 344.0]), shoulders=np.array([[420.0, 420.0], [48.0, 425.0]]))]
    assert choose_crop(ext, width=450, height=450, frame="head-and-shoulders") == (0, 0, 450, 450)


def test_crop_resize_pads_outside_with_black():
    img = np.full((10, 20, 3), 200, np.uint8)
    out = crop_resize(img, (0, -5, 20, 15), 20)
    assert out.shape == (20, 20, 3)
    assert out[:4].max() == 0 and out[6:14].min() == 200


def test_background_plate_is_the_median_behind_a_moving_person():
    rng = np.random.default_rng(0)
    bg = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    frames, masks = [], []
    for k in range(20):
        f = bg.copy()
        m = np.zeros((64, 64), np.uint8)
        x = 5 + 2 * k
        f[10:50, x:x + 12] = 255  # the "person" walks across
        m[10:50, x:x + 12] = 255
        frames.append(f)
        masks.append(m)
    plate, holes = background_plate(np.stack(frames), np.stack(masks))
    assert holes < 0.05
    seen = np.ones((64, 64), bool)
    seen[8:52, :] = False  # rows the person crossed: compare only where not inpainted
    assert np.abs(plate[seen].astype(int) - bg[seen]).max() == 0
    assert np.abs(plate.astype(int) - bg).mean() < 20


@pytest.mark.parametrize("n, holdout, start", [(500, 0.1, 450), (10, 0.0, 10), (7, 0.2, 6), (1, 0.4, 1)])
def test_holdout_start(n, holdout, start):
    assert holdout_start(n, holdout) == start


# --- bad input ---------------------------------------------------------------------


def test_non_video_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, not a video\n" * 50)
    with pytest.raises(InputError, match=r"notes\.txt: not a video file: FFmpeg reads it as a text file"):
        probe(path)


def test_image_file_is_not_a_video(tmp_path):
    import cv2

    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(InputError, match=r"photo\.png: not a video file: FFmpeg reads it as an image \(png\)"):
        probe(path)


def test_binary_junk_is_not_a_video(tmp_path):
    path = tmp_path / "junk.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 255, 4096, np.uint8).tobytes())
    with pytest.raises(InputError, match=r"junk\.mp4: not (readable as )?a video file"):
        probe(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.mp4: the file is empty"):
        probe(path)


def test_truncated_video(tmp_path):
    path = write_video(tmp_path / "v.mp4", [np.random.default_rng(k).integers(0, 255, (48, 64, 3), np.uint8) for k in range(40)])
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.mp4: .*(truncated|corrupt|not a readable)") as e:
        info = probe(cut)
        from avatarzoo.ingest.video import check_complete

        times = [t for t, _ in iter_frames(cut, fps=25)]
        check_complete(info, times[-1], 25)
    assert "\n" not in str(e.value)


def test_audio_file_is_not_a_video(tmp_path):
    path = tmp_path / "voice.m4a"
    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("aac", rate=48000)
        s.layout = "mono"
        af = av.AudioFrame.from_ndarray(np.zeros((1, 4800), np.float32), format="fltp", layout="mono")
        af.sample_rate = 48000
        for p in s.encode(af):
            c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    with pytest.raises(InputError, match=r"voice\.m4a: has no video stream"):
        probe(path)


def test_video_without_a_face_names_the_file_and_times(tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (96, 128, 3), np.uint8) for _ in range(25)]
    path = write_video(tmp_path / "noface.mp4", frames)
    rec = RecordingConfig(video="noface.mp4", crop=CropConfig(size=64))
    with pytest.raises(InputError, match=r"noface\.mp4: no face found in any of 8 frames sampled between 0\.0 s and 1\.0 s"):
        ingest_recording(path, tmp_path / "out", recording=rec)


# --- the real recording --------------------------------------------------------------


def _first_seconds_without_audio(tmp_path: Path, seconds: float) -> Path:
    frames = [img for _, img in iter_frames(DEMO, fps=25, duration=seconds)]
    return write_video(tmp_path / "silent.mp4", frames)


@pytest.mark.skipif(not DEMO.exists(), reason="demo recording not present")
def test_ingest_real_clip_matches_the_contract(tmp_path):
    rec = RecordingConfig(video=DEMO.name, duration=2.0, crop=CropConfig(size=96), holdout=0.1)
    meta = ingest_recording(DEMO, tmp_path, recording=rec)
    frames = np.load(tmp_path / "frames.npy", mmap_mode="r")
    masks = np.load(tmp_path / "masks.npy", mmap_mode="r")
    time = np.load(tmp_path / "time.npy")
    audio = np.load(tmp_path / "audio.npy")
    assert isinstance(frames, np.memmap)
    assert frames.shape == (50, 96, 96, 3) and frames.dtype == np.uint8
    assert masks.shape == (50, 96, 96) and masks.dtype == np.uint8
    assert time.dtype == np.float64 and np.allclose(np.diff(time), 0.04)
    assert audio.dtype == np.float32 and abs(audio.shape[0] - 2.0 * SAMPLE_RATE) <= 1
    assert json.loads((tmp_path / "ingest.json").read_text()) == meta
    assert meta["n_frames"] == 50 and meta["holdout_start"] == 45 and meta["size"] == 96
    assert meta["audio"]["sample_rate"] == SAMPLE_RATE and meta["audio"]["offset"] == 0.0
    assert meta["crop_box"] == [0, 0, 450, 450]
    centre = masks[:, 30:70, 35:60].mean()
    corner = masks[:, :15, :15].mean()
    assert centre > 200 and corner < 40  # the person is in the middle, not in the corner
    import cv2

    plate = cv2.imread(str(tmp_path / "background.png"))
    assert plate.shape == (96, 96, 3)


@pytest.mark.skipif(not DEMO.exists(), reason="demo recording not present")
def test_video_without_audio_is_allowed(tmp_path):
    path = _first_seconds_without_audio(tmp_path, 0.6)
    rec = RecordingConfig(video=path.name, crop=CropConfig(size=64))
    meta = ingest_recording(path, tmp_path / "out", recording=rec)
    assert meta["audio"] is None
    assert not (tmp_path / "out" / "audio.npy").exists()
    assert json.loads((tmp_path / "out" / "ingest.json").read_text())["audio"] is None
