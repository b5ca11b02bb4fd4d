"""The MediaPipe tracker: Tracking file, face-64, head pose, channels, missing faces,
re-tracking against a reference. Real-footage tests use the first 2 s of the demo
recording at 256² (module fixture: tracked once)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from avatarzoo.errors import InputError
from avatarzoo.recipe.models import MediapipeTrackerConfig
from avatarzoo.spaces import REGIONS, get_space
from avatarzoo.spaces.builtin import N_SEMANTIC, SEMANTIC_NAMES
from avatarzoo.trackers.expressions import EYE, BROW, encode, semantic_raw
from avatarzoo.trackers.headpose import RIGID, default_K, project, similarity_align, solve_poses
from avatarzoo.contracts.tracking import Tracking

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "obama-address-20s.mp4"
if not DEMO.exists():
    DEMO = ROOT.parent / "shared" / "data" / "obama-address-20s.mp4"
needs_demo = pytest.mark.skipif(not DEMO.exists(), reason="demo recording not present")
SIZE = 256


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    from avatarzoo.ingest.crop import crop_resize
    from avatarzoo.ingest.video import iter_frames

    return np.stack([crop_resize(img, (0, 0, 450, 450), SIZE) for _, img in iter_frames(DEMO, fps=25, duration=2.0)])


@pytest.fixture(scope="module")
def tracked(frames) -> Tracking:
    from avatarzoo.trackers.mediapipe import track_frames

    return track_frames(frames, fps=25.0, body_stride=2)


# --- the space and the file ----------------------------------------------------------


def test_face64_is_registered_with_every_region():
    space = get_space("face-64")
    assert space.dim == 64 and len(space.channels) == 64
    for region in ("brows", "eyes", "gaze", "mouth", "jaw", "cheeks", "residual"):
        assert region in REGIONS and space.indices(region), region
    assert space.channels[:N_SEMANTIC] == SEMANTIC_NAMES
    for name in ("blink_left", "blink_right", "brow_raise_left", "brow_furrow", "gaze_x", "gaze_y",
                 "mouth_open", "mouth_width", "mouth_pucker", "jaw_open", "cheek_puff_left"):
        space.channel(name)
    assert len(space.indices("residual")) == 64 - N_SEMANTIC


def _tiny(n: int = 4) -> Tracking:
    rng = np.random.default_rng(0)
    return Tracking(
        expression=rng.normal(size=(n, 64)).astype(np.float32),
        pose=np.tile(np.eye(4, dtype=np.float32), (n, 1, 1)),
        landmarks=rng.normal(size=(n, 478, 3)).astype(np.float32),
        body=rng.normal(size=(n, 3, 2)).astype(np.float32),
        valid=np.array([True, False, True, True][:n]),
        time=np.arange(n) / 25.0,
        K=default_K(64, 64).astype(np.float32),
        canonical=rng.normal(size=(478, 3)).astype(np.float32),
        space=get_space("face-64"),
        body_names=["left_shoulder", "right_shoulder", "neck_base"],
        extras={"residual_basis": np.ones((31, 1434), np.float32)},
    )


def test_tracking_round_trips_through_safetensors(tmp_path):
    t = _tiny()
    path = tmp_path / "tracking.safetensors"
    t.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["tracking.safetensors"]  # no temp file left
    u = Tracking.load(path)
    for name, a in t.tensors().items():
        np.testing.assert_array_equal(getattr(u, name), a)
        assert getattr(u, name).dtype == a.dtype
    assert u.space == t.space and u.body_names == t.body_names
    np.testing.assert_array_equal(u.extras["residual_basis"], t.extras["residual_basis"])
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata()
    assert json.loads(meta["avatarzoo.space"])["name"] == "face-64"
    assert json.loads(meta["avatarzoo.body_names"]) == t.body_names


def test_a_wrong_shape_names_the_file_and_tensor(tmp_path):
    from safetensors.numpy import save_file

    t = _tiny()
    tensors = dict(t.tensors())
    tensors["landmarks"] = tensors["landmarks"][:, :468]
    path = tmp_path / "bad.safetensors"
    save_file(tensors, str(path), metadata={"avatarzoo.space": t.space.to_json(), "avatarzoo.body_names": "[\"a\", \"b\", \"c\"]"})
    with pytest.raises(InputError, match=r"bad\.safetensors: tensor 'landmarks' should be float32 \[N, 478, 3\]"):
        Tracking.load(path)


def test_missing_metadata_and_tensors_are_named(tmp_path):
    from safetensors.numpy import save_file

    t = _tiny()
    path = tmp_path / "t.safetensors"
    save_file(t.tensors(), str(path))
    with pytest.raises(InputError, match=r"t\.safetensors: header metadata lacks 'avatarzoo.space'"):
        Tracking.load(path)
    tensors = dict(t.tensors())
    del tensors["pose"]
    save_file(tensors, str(path), metadata={"avatarzoo.space": t.space.to_json(), "avatarzoo.body_names": "[]"})
    with pytest.raises(InputError, match=r"missing tensor\(s\) pose"):
        Tracking.load(path)
    path.write_bytes(b"garbage")
    with pytest.raises(InputError, match=r"not a readable safetensors file"):
        Tracking.load(path)


# --- geometry ----------------------------------------------------------------------


def test_pnp_recovers_a_known_pose(tracked):
    import cv2

    canonical = tracked.canonical.astype(np.float64)
    K = default_K(512, 512)
    rot = cv2.Rodrigues(np.array([0.15, -0.3, 0.05]))[0]
    truth = np.eye(4)
    truth[:3, :3], truth[:3, 3] = rot, [2.0, -1.5, 70.0]
    cam = canonical @ rot.T + truth[:3, 3]
    uv = project(canonical, truth[None], K)[0]
    observed = np.concatenate([uv, (cam[:, 2:] - cam[:, 2:].mean()) * K[0, 0] / 70.0], axis=1)
    pose = solve_poses(observed[None], canonical, K)[0]
    np.testing.assert_allclose(pose[:3, :3], rot, atol=1e-4)
    np.testing.assert_allclose(pose[:3, 3], truth[:3, 3], atol=1e-2)


def test_similarity_align_undoes_scale_rotation_translation(tracked):
    import cv2

    c = tracked.canonical.astype(np.float64)
    rot = cv2.Rodrigues(np.array([0.2, 0.4, -0.1]))[0]
    moved = 37.0 * c @ rot.T + [100.0, 50.0, 3.0]
    aligned, scale, *_ = similarity_align(moved[None], c)
    np.testing.assert_allclose(aligned[0], c, atol=1e-6)
    assert abs(scale[0] - 1 / 37.0) < 1e-9


def test_semantic_channels_are_scale_and_pose_invariant(tracked):
    import cv2

    shapes = similarity_align(tracked.landmarks.astype(np.float64), tracked.canonical.astype(np.float64))[0][:5]
    raw = semantic_raw(shapes)
    rot = cv2.Rodrigues(np.array([0.1, -0.2, 0.3]))[0]
    moved = 3.0 * shapes @ rot.T + 5.0
    realigned = similarity_align(moved, tracked.canonical.astype(np.float64))[0]
    np.testing.assert_allclose(semantic_raw(realigned), raw, atol=1e-9)


def test_closing_the_lids_is_a_blink_and_lifting_the_brows_a_raise(tracked):
    from avatarzoo.trackers.expressions import ExpressionBasis

    basis = ExpressionBasis.from_extras(tracked.extras)
    face = tracked.canonical.astype(np.float64)[None].repeat(3, axis=0)
    for side, k in EYE.items():  # frame 1: lids closed (upper lid onto the lower)
        face[1, k["upper"]] = face[1, k["lower"]]
    for side, b in BROW.items():  # frame 2: brows 0.5 cm higher
        face[2, b["all"], 1] -= 0.5
    code = encode(face, basis)
    s = tracked.space
    bl, br = s.channel("blink_left"), s.channel("blink_right")
    assert code[1, bl] > 0.9 and code[1, br] > 0.9
    assert abs(code[0, bl]) < 0.35  # the canonical face has its eyes open
    for name in ("brow_raise_left", "brow_raise_right"):
        i = s.channel(name)
        assert code[2, i] - code[0, i] > 0.8  # 0.5 cm ~ 0.055 eye distances; scale 0.05


def test_head_rotation_is_regressed_out_of_jaw_mouth_and_brows_only():
    from avatarzoo.trackers.expressions import POSE_DECOUPLED, ExpressionBasis, fit_pose_coupling

    rng = np.random.default_rng(0)
    angles = np.c_[3 * np.sin(np.arange(300) / 20), rng.normal(0, 2, 300), rng.normal(0, 4, 300)] + [5, -2, 1]
    raw = rng.normal(0, 0.02, (300, N_SEMANTIC))
    jaw, roll_brow, gaze = (SEMANTIC_NAMES.index(n) for n in ("jaw_open", "brow_raise_left", "gaze_y"))
    raw[:, jaw] += 0.01 * angles[:, 0]  # jaw follows pitch
    raw[:, roll_brow] += 0.005 * angles[:, 2]  # a brow follows roll
    raw[:, gaze] += 0.01 * angles[:, 0]  # the eyes do counter-rotate: not corrected
    ref, coef = fit_pose_coupling(raw, angles)
    np.testing.assert_allclose(ref, np.median(angles, axis=0))
    # the ridge (POSE_RIDGE_DEG2) shrinks a little at these angle spreads (std 2-4°)
    assert abs(coef[jaw, 0] - 0.01) < 0.002 and abs(coef[roll_brow, 2] - 0.005) < 0.0005
    untouched = [i for i, n in enumerate(SEMANTIC_NAMES) if n not in POSE_DECOUPLED]
    assert not coef[untouched].any()
    basis = ExpressionBasis(np.zeros(N_SEMANTIC), np.ones(N_SEMANTIC), np.zeros(3), np.zeros((0, 3)), np.zeros(0), ref, coef)
    corrected = raw - basis.pose_part(angles, 300)
    assert abs(np.corrcoef(corrected[:, jaw], angles[:, 0])[0, 1]) < 0.1
    np.testing.assert_array_equal(corrected[:, untouched], raw[:, untouched])  # gaze_y keeps its pitch
    # trackings written before the pose coupling existed read as "no correction"
    old = {k: v for k, v in basis.to_extras().items() if not k.startswith("pose_")}
    assert not ExpressionBasis.from_extras(old).pose_part(angles, 300).any()


# --- tracking real frames ------------------------------------------------------------


@needs_demo
def test_tracking_real_frames_matches_the_contract(tracked):
    n = 50
    assert tracked.expression.shape == (n, 64) and tracked.expression.dtype == np.float32
    assert tracked.pose.shape == (n, 4, 4) and tracked.landmarks.shape == (n, 478, 3)
    assert tracked.body.shape == (n, 3, 2) and tracked.valid.all()
    assert np.isfinite(tracked.expression).all() and np.isfinite(tracked.pose).all()
    np.testing.assert_allclose(tracked.time, np.arange(n) / 25.0)
    # one static camera, and the canonical face seen through the pose lands on the landmarks
    uv = project(tracked.canonical.astype(np.float64), tracked.pose.astype(np.float64), tracked.K.astype(np.float64))
    err = np.linalg.norm(uv[:, RIGID] - tracked.landmarks[:, RIGID, :2], axis=-1)
    eye = np.linalg.norm(tracked.landmarks[:, 263, :2] - tracked.landmarks[:, 33, :2], axis=-1).mean()
    assert np.median(err) < 0.03 * eye
    # the head is in front of the camera, about where a face that size would be
    assert 30 < tracked.pose[:, 2, 3].mean() < 200
    # shoulders below the face, left shoulder (subject's) on the image's right
    assert (tracked.body[:, :, 1] > tracked.landmarks[:, 152, 1:2]).all()
    assert (tracked.body[:, 0, 0] > tracked.body[:, 1, 0]).all()
    # eyes open most of the time
    s = tracked.space
    assert abs(np.median(tracked.expression[:, s.channel("blink_left")])) < 0.1


@needs_demo
def test_tracking_is_deterministic(frames, tracked):
    from avatarzoo.trackers.mediapipe import track_frames

    again = track_frames(frames[:20], fps=25.0, reference=tracked, body_stride=2)
    first = track_frames(frames[:20], fps=25.0, reference=tracked, body_stride=2)
    for name in ("expression", "pose", "landmarks", "body"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name))
    fresh = [track_frames(frames[:20], fps=25.0, body_stride=2) for _ in range(2)]  # basis fitted too
    for name in ("expression", "pose", "landmarks", "body"):
        np.testing.assert_array_equal(getattr(fresh[0], name), getattr(fresh[1], name))
    for name, value in fresh[0].extras.items():
        np.testing.assert_array_equal(value, fresh[1].extras[name])


@needs_demo
def test_retracking_with_a_reference_reuses_its_camera_face_and_basis(frames, tracked):
    from avatarzoo.trackers.mediapipe import track_frames

    blanked = frames[:25].copy()
    blanked[5:10] = 127  # no face in 0.20-0.40 s: flagged, never an error
    again = track_frames(blanked, fps=25.0, reference=tracked, body_stride=2)
    np.testing.assert_array_equal(again.K, tracked.K)
    np.testing.assert_array_equal(again.canonical, tracked.canonical)
    np.testing.assert_array_equal(again.extras["residual_basis"], tracked.extras["residual_basis"])
    np.testing.assert_array_equal(again.extras["pose_coef"], tracked.extras["pose_coef"])
    assert again.valid.tolist() == [True] * 5 + [False] * 5 + [True] * 15
    ok = again.valid
    s = tracked.space
    semantic = list(range(N_SEMANTIC))
    diff = np.abs(again.expression[ok][:, semantic] - tracked.expression[:25][ok][:, semantic])
    assert np.median(diff) < 0.05
    i = s.channel("mouth_open")
    assert np.corrcoef(again.expression[ok, i], tracked.expression[:25][ok, i])[0, 1] > 0.9


@needs_demo
def test_too_many_missing_faces_is_an_error_naming_the_times(frames):
    from avatarzoo.trackers.mediapipe import track_frames

    blanked = frames[:25].copy()
    blanked[10:20] = 127
    with pytest.raises(InputError, match=r"clip\.mp4: no face in 40% of the frames .*max_missing = 10%\): 0\.40–0\.80 s"):
        track_frames(blanked, fps=25.0, source="clip.mp4", body_stride=5)
    # a few are interpolated and flagged
    blanked = frames[:25].copy()
    blanked[12] = 127
    t = track_frames(blanked, fps=25.0, body_stride=5)
    assert t.valid.sum() == 24 and not t.valid[12]
    np.testing.assert_allclose(t.landmarks[12], 0.5 * (t.landmarks[11] + t.landmarks[13]), atol=1.5)


def test_no_face_at_all_is_an_error():
    from avatarzoo.trackers.mediapipe import track_frames

    grey = np.full((6, 64, 64, 3), 90, np.uint8)
    with pytest.raises(InputError, match=r"wall\.mp4: no face found in any of the 6 frames \(0\.00–0\.24 s\)"):
        track_frames(grey, fps=25.0, source="wall.mp4", body_stride=6)


def test_other_spaces_are_refused():
    from avatarzoo.errors import SpaceError
    from avatarzoo.trackers.mediapipe import track_frames

    with pytest.raises(SpaceError, match="emits 'face-64'"):
        track_frames([], fps=25.0, config=MediapipeTrackerConfig(space="arkit-52"))


def test_mediapipe_native_noise_is_dropped_and_other_stderr_kept(capfd):
    import os

    from avatarzoo.trackers.runtime import native_stderr_filtered

    with native_stderr_filtered():
        with native_stderr_filtered():  # re-entrant: threads overlap
            os.write(2, b"W0000 00:00:1.0  1 inference_feedback_manager.cc:114] Feedback manager requires ...\n")
        os.write(2, b"E0000 something real failed\n")
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    err = capfd.readouterr().err
    assert err == "E0000 something real failed\n"
