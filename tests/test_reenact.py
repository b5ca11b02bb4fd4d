"""Reenactment (avatarzoo/drive/): the transfer math on synthetic codes, spaces and maps,
the CLI end to end on a clip made from the demo recording, self-driving, the live form.
Quality on real drivers is measured by benchmarks/reenact.py (BENCHMARKS.md)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import avatarzoo
from avatarzoo.cli import main
from avatarzoo.drive.stats import AvatarStats, DriverStats
from avatarzoo.drive.transfer import MAX_GAIN, gains, transfer, transfer_expression, transfer_pose
from avatarzoo.errors import BundleError, SpaceError
from avatarzoo.geometry import rotvec_to_matrix
from avatarzoo.spaces import ExpressionSpace, get_space

ROOT = Path(__file__).resolve().parent.parent
DEMO_VIDEO = ROOT / "data" / "obama-address-20s.mp4"

TOY = ExpressionSpace(name="toy-5", dim=5, channels=("brow_l", "brow_r", "blink", "mouth_open", "jaw_open"),
                      regions={"brows": (0, 1), "eyes": (2,), "mouth": (3,), "jaw": (4,)})


def avatar_stats(space=TOY, *, median=None, low=None, high=None, lo_clamp=None, hi_clamp=None,
                 residual_coef=None, pose_mean=None, rot=(0.1, 0.1, 0.1), trans=(1.0, 1.0, 1.0)):
    d = space.dim
    median = np.zeros(d) if median is None else np.asarray(median, float)
    low = median - 1 if low is None else np.asarray(low, float)
    high = median + 1 if high is None else np.asarray(high, float)
    body = np.array([[40.0, 80.0], [60.0, 80.0], [50.0, 75.0]])
    coef = np.zeros((6, 3, 2))
    coef[3, :, 0] = 2.0  # 2 px of body per cm of head translation in x
    return AvatarStats(
        space=space, median=median, low=low, high=high,
        min=low - 0.5 if lo_clamp is None else np.asarray(lo_clamp, float),
        max=high + 0.5 if hi_clamp is None else np.asarray(hi_clamp, float),
        pose_mean=np.eye(4) if pose_mean is None else pose_mean,
        rotvec_min=-np.asarray(rot), rotvec_max=np.asarray(rot),
        translation_min=-np.asarray(trans), translation_max=np.asarray(trans),
        body_neutral=body, body_coef=coef, face_px=20.0, residual_coef=residual_coef,
    )


def driver_stats(space=TOY, *, median, low, high, pose_mean=None):
    return DriverStats(space, np.asarray(median, float), np.asarray(low, float), np.asarray(high, float),
                       np.eye(4) if pose_mean is None else pose_mean, frames=100)


def pose_of(rotvec, t=(0.0, 0.0, 60.0)) -> np.ndarray:
    p = np.eye(4)
    p[:3, :3] = rotvec_to_matrix(np.asarray(rotvec, float))[0]
    p[:3, 3] = t
    return p


# --- the transfer on synthetic codes ------------------------------------------------------


def test_the_drivers_neutral_and_range_land_on_the_avatars_keeping_signs():
    a = avatar_stats(median=[0.1, 0.1, 0.0, 0.2, 0.0], low=[-0.1, -0.1, -0.2, -0.3, -0.5],
                     high=[0.3, 0.3, 0.9, 1.0, 0.6])
    # A driver with a permanent smile-like offset and small brows: its own neutral ≠ 0.
    d = driver_stats(median=[0.5, 0.5, 0.0, 0.4, 0.1], low=[0.42, 0.42, -0.1, 0.0, -0.1],
                     high=[0.6, 0.6, 0.8, 1.2, 0.5])
    codes = np.array([d.median, d.high, d.low, d.median + 0.25 * (d.high - d.median)])
    y, clamped, _ = transfer_expression(codes, d, a, scale="channel")
    np.testing.assert_allclose(y[0], a.median, atol=1e-12)  # the driver's neutral is the avatar's
    np.testing.assert_allclose(y[1], a.high, atol=1e-12)  # the top of its range, the avatar's top
    np.testing.assert_allclose(y[2], a.low, atol=1e-12)
    np.testing.assert_allclose(y[3], a.median + 0.25 * (a.high - a.median), atol=1e-12)
    assert not clamped.any()
    # The driver's brows move 0.1 up: the avatar's 0.2 (gain 2): visibly, and upwards.
    assert y[1, 0] - a.median[0] == pytest.approx(2 * (d.high[0] - d.median[0]))
    assert np.all(np.sign(y[1:3] - a.median) == np.sign(codes[1:3] - d.median))


def test_gains_are_bounded_and_a_still_avatar_channel_stays_still():
    a = avatar_stats(low=[-1, -1, -1, 0, -1], high=[1, 1, 1, 0, 1])  # its mouth never moved
    d = driver_stats(median=np.zeros(5), low=[-1e-4, -1, -1, -1, -1], high=[1e-4, 1, 1, 1, 1])
    up, down = gains(d, a, scale="channel")
    assert up[0] == MAX_GAIN and down[0] == MAX_GAIN  # jitter is not amplified without bound
    assert up[3] == 0 and down[3] == 0
    y, _, _ = transfer_expression(np.full((1, 5), 0.8), d, a)
    assert y[0, 3] == 0.0


def test_region_scale_keeps_the_balance_within_a_region():
    a = avatar_stats(low=[-0.2, -0.2, -1, -1, -1], high=[0.2, 0.2, 1, 1, 1])
    d = driver_stats(median=np.zeros(5), low=[-0.1, -0.08, -1, -1, -1], high=[0.1, 0.08, 1, 1, 1])
    codes = np.array([[0.1, 0.08, 0, 0, 0]])  # both brows at the top of their own ranges
    per_channel, _, _ = transfer_expression(codes, d, a, scale="channel")
    per_region, _, _ = transfer_expression(codes, d, a, scale="region")
    np.testing.assert_allclose(per_channel[0, :2], [0.2, 0.2])  # each stretched to the avatar's top
    assert per_region[0, 0] / per_region[0, 1] == pytest.approx(1.25)  # left raised more than right: kept
    assert per_region[0, 0] == pytest.approx(0.1 * 0.4 / 0.18)


def test_out_of_range_driver_codes_are_clamped_and_counted():
    a = avatar_stats(lo_clamp=[-1.2] * 5, hi_clamp=[1.2] * 5)
    d = driver_stats(median=np.zeros(5), low=-np.ones(5), high=np.ones(5))
    codes = np.zeros((10, 5))
    codes[2, 3] = 5.0  # an extreme mouth
    codes[3, 3] = -7.0
    codes[5, 0] = 3.0  # an extreme brow
    codes[7, 2] = 1.1  # inside what the avatar saw: not clamped
    t = transfer(codes, np.tile(np.eye(4), (10, 1, 1)), d, a)
    assert t.expression[2, 3] == pytest.approx(1.2) and t.expression[3, 3] == pytest.approx(-1.2)
    assert t.expression[7, 2] == pytest.approx(1.1)
    assert t.clamped.expression == 3 and t.clamped.frames == 3 and t.clamped.head == 0
    assert t.clamped.regions == {"mouth": 2, "brows": 1}
    assert "clamped 3 of 10 frames" in t.clamped.summary() and "mouth 2" in t.clamped.summary()


def test_per_subject_residual_channels_are_completed_not_copied():
    space = get_space("face-64")
    res = list(space.indices("residual"))
    named = [i for i in range(space.dim) if i not in res]
    mouth = space.channel("mouth_open")
    coef = np.zeros((len(named), len(res)))
    coef[named.index(mouth), 0] = 2.0  # residual_00 moved twice mouth_open in training
    a = avatar_stats(space, residual_coef=coef)
    d = driver_stats(space, median=np.zeros(64), low=-np.ones(64), high=np.ones(64))
    codes = np.zeros((1, 64))
    codes[0, mouth] = 0.5
    codes[0, res] = 0.9  # the driver's own PCA: meaningless for the avatar
    y, _, (up, _) = transfer_expression(codes, d, a)
    assert y[0, mouth] == pytest.approx(0.5)
    assert y[0, res[0]] == pytest.approx(1.0)  # completed: 2 × 0.5
    np.testing.assert_allclose(y[0, res[1:]], 0.0)
    assert up[res].max() == 0
    # The avatar as its own driver shares its basis: the residual is its own and passes.
    y_self, _, _ = transfer_expression(codes, DriverStats.of_avatar(a), a)
    np.testing.assert_allclose(y_self[0, res], 0.9)


def test_head_motion_is_relative_to_each_mean_pose_and_clamped():
    mean_d = pose_of([0.0, 0.3, 0.0], t=(5.0, 0.0, 80.0))  # the driver sits turned and off-centre
    mean_a = pose_of([0.05, 0.0, 0.0], t=(0.0, 2.0, 60.0))
    a = avatar_stats(pose_mean=mean_a, rot=(0.2, 0.2, 0.2), trans=(2.0, 2.0, 2.0))
    d = driver_stats(median=np.zeros(5), low=-np.ones(5), high=np.ones(5), pose_mean=mean_d)
    turn = rotvec_to_matrix(np.array([0.0, 0.1, 0.0]))[0]
    nod_far = rotvec_to_matrix(np.array([0.9, 0.0, 0.0]))[0]
    p = np.stack([mean_d, mean_d.copy(), mean_d.copy()])
    p[1, :3, :3] = turn @ mean_d[:3, :3]  # 0.1 rad more yaw, 1 cm to the right
    p[1, :3, 3] += [1.0, 0.0, 0.0]
    p[2, :3, :3] = nod_far @ mean_d[:3, :3]  # far beyond what the avatar ever did
    out, r, dt, clamped = transfer_pose(p, d, a, margin=0.25)
    np.testing.assert_allclose(out[0], mean_a, atol=1e-9)
    np.testing.assert_allclose(out[1, :3, :3], turn @ mean_a[:3, :3], atol=1e-9)
    np.testing.assert_allclose(out[1, :3, 3], mean_a[:3, 3] + [1.0, 0.0, 0.0], atol=1e-9)
    assert r[2, 0] == pytest.approx(0.2 + 0.25 * 0.4)  # clamped at the range + margin
    assert clamped.tolist() == [False, False, True]
    t = transfer(np.zeros((3, 5)), p, d, a, body="head")
    np.testing.assert_allclose(t.body[0], a.body_neutral, atol=1e-5)
    np.testing.assert_allclose(t.body[1, :, 0] - a.body_neutral[:, 0], 2.0, atol=1e-5)  # follows the head
    assert t.clamped.head == 1
    np.testing.assert_allclose(transfer(np.zeros((3, 5)), p, d, a, body="neutral").body[1], a.body_neutral)


def test_driver_stats_fit_on_its_own_frames():
    rng = np.random.default_rng(0)
    codes = rng.normal(0.3, 0.1, (400, 5))
    poses = np.stack([pose_of([0, 0.1 * math.sin(k / 10), 0]) for k in range(400)])
    valid = np.ones(400, bool)
    valid[:50] = False
    codes[:50] = 99.0  # frames without a face do not count
    s = DriverStats.fit(codes, poses, valid, space=TOY)
    np.testing.assert_allclose(s.median, 0.3, atol=0.02)
    np.testing.assert_allclose(s.high - s.median, 2.33 * 0.1, rtol=0.15)
    assert s.frames == 350


# --- spaces and maps ------------------------------------------------------------------------------


def test_a_driver_in_another_space_needs_a_declared_map():
    from avatarzoo.drive.offline import to_space
    from avatarzoo.spaces.linear_map import LinearMap

    flame, face = get_space("flame"), get_space("face-64")
    codes = np.zeros((4, flame.dim), np.float32)
    with pytest.raises(SpaceError, match="no map flame → face-64 .*--map"):
        to_space(codes, flame, face, source="metrical.safetensors")
    m = LinearMap(flame, face, np.zeros((flame.dim, face.dim), np.float32), np.full(face.dim, 0.5, np.float32))
    np.testing.assert_allclose(to_space(codes, flame, face, [m]), 0.5)
    with pytest.raises(SpaceError, match="no map face-64 → flame .*maps given: flame → face-64"):
        to_space(np.zeros((4, 64)), face, flame, [m])


# --- the real avatar ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def avatar(smoke_build):
    cache, _ = smoke_build
    return avatarzoo.load(cache / "bundles" / "demo-v1")


def _stage(cache: Path, name: str) -> Path:
    (path,) = (cache / "stages" / name).iterdir()
    return path


@pytest.fixture(scope="module")
def driver_clip(tmp_path_factory):
    """4 s of the demo recording mirrored and from a different part (12–16 s), with its
    audio: another recording of a face (this test checks the wiring, not who it is)."""
    import av

    from avatarzoo.drivers.audio import read_audio
    from avatarzoo.media import write_video

    out = tmp_path_factory.mktemp("driver") / "driver.mp4"
    frames = []
    with av.open(str(DEMO_VIDEO)) as c:
        for f in c.decode(video=0):
            t = float(f.pts * f.time_base)
            if 12.0 <= t < 16.0:
                frames.append(np.ascontiguousarray(f.to_ndarray(format="rgb24")[::2, ::-2]))
    audio = read_audio(DEMO_VIDEO)[12 * 16000:16 * 16000]
    write_video(out, frames, fps=25.0, audio=audio, sample_rate=16000)
    return out


def test_the_cli_drives_the_avatar_from_a_video_with_its_audio(smoke_build, driver_clip, tmp_path):
    import av

    cache, _ = smoke_build
    out = tmp_path / "driven.mp4"
    result = CliRunner().invoke(main, ["drive", "demo-v1", "--video", str(driver_clip), "-o", str(out),
                                       "--cache", str(cache), "--side-by-side"])
    assert result.exit_code == 0, result.output
    assert "100 frames from" in result.output and "clamped" in result.output and "of 100 frames" in result.output
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert (v.codec_context.width, v.codec_context.height) == (192, 96)  # driver | avatar
        assert c.streams.audio and c.streams.audio[0].duration is not None
        n = sum(1 for _ in c.decode(video=0))
    assert n == 100


def test_the_cli_names_the_missing_map_without_a_traceback(smoke_build, avatar, tmp_path):
    cache, _ = smoke_build
    from avatarzoo.contracts.tracking import Tracking

    tr = Tracking.load(_stage(cache, "track") / "tracking.safetensors")
    flame = get_space("flame")
    tr.replace(expression=np.zeros((len(tr), flame.dim), np.float32), space=flame,
               extras={}).save(tmp_path / "flame.safetensors")
    result = CliRunner().invoke(main, ["drive", "demo-v1", "--tracking", str(tmp_path / "flame.safetensors"),
                                       "-o", str(tmp_path / "x.mp4"), "--cache", str(cache)])
    assert result.exit_code == 2
    assert "no map flame → face-64" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "x.mp4").exists()
    with pytest.raises(SpaceError, match="flame.safetensors: codes in 'flame'"):
        avatar.reenact(tmp_path / "flame.safetensors")


def test_a_bundle_from_before_reenactment_says_to_rebuild(avatar, tmp_path):
    from avatarzoo.bundle.io import write_bundle

    b = avatar.bundle
    tensors = {k: v for k, v in b.tensors().items() if k != "tracking.expression_median"}
    write_bundle(tmp_path / "old", tensors=tensors, metadata=b.metadata, config=b.config, card=b.card)
    old = avatarzoo.load(tmp_path / "old")
    with pytest.raises(BundleError, match=r"no tracking\.expression_median .*rebuild it"):
        old.reenact(np.zeros((2, 96, 96, 3), np.uint8))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    from avatarzoo.image_metrics import psnr

    import torch

    x = torch.as_tensor(np.asarray(a), dtype=torch.float32) / 255
    y = torch.as_tensor(np.asarray(b), dtype=torch.float32) / 255
    return float(psnr(x.permute(0, 3, 1, 2), y.permute(0, 3, 1, 2)).mean())


def _held_out(cache: Path):
    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.contracts.tracking import Tracking

    ingest = IngestOutput.open(_stage(cache, "ingest"))
    ref = Tracking.load(_stage(cache, "track") / "tracking.safetensors")
    h = ingest.info.holdout_start
    return ref, h, np.array(ingest.frames[h:]), np.array(ingest.masks[h:])


def _self_drive_against_render(avatar, tracking, held):
    """The avatar reenacting `tracking` as its own driver; asserts its renders are
    within 0.3 dB of `avatarzoo render`'s (the stored held-out tracking) on `held`.
    Returns (avatar stats, transfer, the stored held-out tracking)."""
    stats = AvatarStats.from_bundle(avatar.bundle)
    t = avatar.reenact(tracking, calibration=DriverStats.of_avatar(stats), body="driver").transfer
    demo = {k: avatar.bundle.tensors("demo.")[k].numpy() for k in ("expression", "pose", "body")}
    replayed = avatar.render(demo["expression"], demo["pose"], demo["body"])
    reenacted = avatar.render(t.expression, t.pose, t.body)
    assert abs(_psnr(reenacted, held) - _psnr(replayed, held)) <= 0.3
    return stats, t, demo


def test_self_driving_reproduces_the_held_out_renders(smoke_build, avatar):
    """The avatar as its own driver (its own neutral, ranges, mean pose and body) on its
    held-out tracking renders exactly what `avatarzoo render` renders."""
    ref, h, held, _ = _held_out(smoke_build[0])
    own = ref.replace(expression=ref.expression[h:], pose=ref.pose[h:], landmarks=ref.landmarks[h:],
                      body=ref.body[h:], valid=ref.valid[h:], time=ref.time[h:], extras={})
    stats, t, demo = _self_drive_against_render(avatar, own, held)
    inside = (demo["expression"] >= stats.min) & (demo["expression"] <= stats.max)
    assert np.array_equal(inside, ~t.expression_clamped)
    np.testing.assert_allclose(t.expression[~t.expression_clamped], demo["expression"][~t.expression_clamped],
                               atol=1e-5)
    free = ~t.head_clamped  # the smoke avatar saw 4.8 s: its held-out head leaves that range at times
    assert free.sum() >= 5
    np.testing.assert_allclose(t.pose[free], demo["pose"][free], atol=1e-4)
    np.testing.assert_allclose(t.body, demo["body"], atol=1e-3)


def test_self_driving_from_re_tracked_frames_is_within_0_3_db_of_render(smoke_build, avatar):
    """The held-out frames tracked again (in the avatar's own units: `track_as` with its
    tracking as the reference, head and torso flows on these frames alone) and reenacted
    with the avatar as its own driver: within 0.3 dB of `avatarzoo render` on the smoke
    avatar. (On the sharper CPU avatar the flows must start from its neutral render,
    `Anchor.of_avatar`: BENCHMARKS.md; this blurry one is no anchor.)"""
    from avatarzoo.drive.offline import track_as

    ref, h, held, masks = _held_out(smoke_build[0])
    retracked = track_as(ref, held, fps=25.0, masks=masks)
    stats, t, demo = _self_drive_against_render(avatar, retracked, held)
    # and it is the held-out motion that plays: the mouth as the recording's
    i = stats.space.channel("mouth_open")
    assert np.corrcoef(t.expression[:, i], demo["expression"][:, i])[0, 1] > 0.8


def test_flows_started_from_an_anchor_land_in_the_references_units(smoke_build):
    """A picture whose pose and body are known in the track's units (here a held-out
    frame of the recording with its stored tracking) anchors the re-tracked head and
    torso: the other frames' body points and head positions land nearer the track
    stage's than when the flows start from one of these frames, anchored at their own
    Pose median and face-mesh mean."""
    from avatarzoo.drive.offline import Anchor, track_as

    ref, h, held, masks = _held_out(smoke_build[0])
    anchor = Anchor(held[0], ref.pose[h].astype(np.float64), ref.body[h].astype(np.float64))
    frames, stored = held[1:], slice(h + 1, None)
    anchored = track_as(ref, frames, fps=25.0, masks=masks[1:], anchor=anchor)
    plain = track_as(ref, frames, fps=25.0, masks=masks[1:])

    def body_px(tr):
        return float(np.abs(tr.body - ref.body[stored]).mean())

    def head_cm(tr):
        return float(np.linalg.norm(tr.pose[:, :3, 3] - ref.pose[stored, :3, 3], axis=-1).mean())

    assert body_px(anchored) < 0.8 * body_px(plain)
    assert head_cm(anchored) < head_cm(plain)
    with pytest.raises(ValueError, match="anchor image"):
        track_as(ref, frames, fps=25.0, masks=masks[1:], anchor=Anchor(held[0][:-1], anchor.pose, anchor.body))


def test_the_live_session_follows_a_recording_frame_by_frame(smoke_build, avatar):
    """The smoke clip's frames, padded to a 4:3 'webcam' frame and pushed one at a time:
    the neutral frame during the warm-up, then the avatar moving as the offline path
    moves it (mouth and blinks)."""
    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.drive.offline import track_array
    from avatarzoo.drive.transfer import transfer as offline_transfer

    cache, _ = smoke_build
    frames = np.array(IngestOutput.open(_stage(cache, "ingest")).frames)
    webcam = np.zeros((len(frames), 96, 128, 3), np.uint8)
    webcam[:, :, 16:112] = frames
    out = []
    with avatar.reenact_live(warmup_s=1.0) as session:
        for f in webcam:
            out.append(session.push(f))
    assert [f.index for f in out] == list(range(len(frames)))
    assert all(f.image.shape == (96, 96, 3) and f.image.dtype == np.uint8 for f in out)
    warm = [f for f in out if f.calibrating]
    assert len(warm) == 24 and all(f.face for f in out)
    assert all(np.array_equal(f.image, warm[0].image) for f in warm)
    assert not any(f.calibrating for f in out[25:])
    assert session.stats.updates >= len(frames[25:]) // 13
    assert len(session._codes) == session.stats.faces  # each face once in the history (the warm-up's last was twice)
    # Against the offline path on the same frames (tracked whole, calibrated on all of them).
    d = track_array(webcam, fps=25.0)
    stats = session.avatar_stats
    off = offline_transfer(d.tracking.expression, d.tracking.pose,
                           DriverStats.fit(d.tracking.expression, d.tracking.pose, space=stats.space), stats)
    live = np.stack([f.expression for f in out[25:]])
    sp = stats.space
    for name in ("mouth_open", "blink_left"):
        i = sp.channel(name)
        assert np.corrcoef(live[:, i], off.expression[25:, i])[0, 1] > 0.8, name
    assert np.ptp(live[:, sp.channel("mouth_open")]) > 0.3 * np.ptp(off.expression[25:, sp.channel("mouth_open")])
