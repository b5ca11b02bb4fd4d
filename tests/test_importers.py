"""Importers: each test writes small files in the native format, as that tracker does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from avatarzoo.errors import InputError
from avatarzoo.spaces import get_space
from avatarzoo.spaces.native import ARKIT_BLENDSHAPES
from avatarzoo.trackers.importers import (
    DEFAULT_FPS,
    FORMATS,
    ImportedTracking,
    import_tracking,
    resample,
    space_of,
)
from avatarzoo.trackers.importers._rotations import rot_x, rot_z
from avatarzoo.trackers.importers.arkit import EYE_COLUMNS, HEAD_COLUMNS, parse_timecode

RNG = np.random.default_rng(0)


class NotData:
    """Stands for any pickled class a hostile or odd file might need."""


# --- metrical-tracker ----------------------------------------------------------------


def write_frame(
    folder: Path,
    frame_id: int,
    *,
    tensors: bool = False,
    name: str | None = None,
    **overrides: object,
) -> dict:
    """One `.frame` file laid out like metrical-tracker's `save_checkpoint` (numpy arrays,
    batch of one, zero-padded string frame_id)."""
    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    flame = {
        "exp": f32(RNG.normal(size=(1, 100))),
        "shape": f32(np.zeros((1, 300))),
        "tex": f32(np.zeros((1, 140))),
        "sh": f32(np.zeros((1, 9, 3))),
        "eyes": f32(RNG.normal(size=(1, 12))),
        "eyelids": f32(RNG.uniform(size=(1, 2))),
        "jaw": f32(RNG.normal(size=(1, 6))),
    }
    opencv = {
        "R": f32(rot_x(np.array([0.1 * frame_id]))),
        "t": f32([[0.01 * frame_id, 0.0, 1.2]]),
        "K": f32([[[2000.0, 0, 256], [0, 2000.0, 256], [0, 0, 1]]]),
    }
    frame = {
        "flame": flame,
        "camera": {
            "R": f32(np.zeros((1, 6))),
            "t": f32(np.zeros((1, 3))),
            "fl": f32([[9.0]]),
            "pp": f32(np.zeros((1, 2))),
        },
        "opencv": opencv,
        "img_size": np.array([512, 512]),
        "frame_id": str(frame_id).zfill(5),
        "global_step": 100 + frame_id,
    }
    for key, value in overrides.items():
        group, _, leaf = key.partition("__")
        (frame[group].__setitem__(leaf, value) if leaf else frame.__setitem__(group, value))
    if tensors:
        frame["flame"] = {k: torch.from_numpy(v) for k, v in flame.items()}
        frame["opencv"] = {k: torch.from_numpy(v) for k, v in opencv.items()}
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(frame, folder / (name or f"{str(frame_id).zfill(5)}.frame"))
    return frame


def test_metrical_reads_frames_as_written(tmp_path: Path) -> None:
    ckpt = tmp_path / "actor" / "checkpoint"
    frames = [write_frame(ckpt, i) for i in (0, 1, 2, 5)]
    result = import_tracking("metrical-tracker", tmp_path / "actor", fps=25)
    assert result.space == "flame" == space_of("metrical-tracker")
    assert result.expression.shape == (4, 120) and result.expression.dtype == np.float32
    flame = frames[3]["flame"]
    want = np.concatenate([flame["exp"][0], flame["jaw"][0], flame["eyelids"][0], flame["eyes"][0]])
    np.testing.assert_allclose(result.expression[3], want, rtol=1e-6)
    np.testing.assert_allclose(result.time, [0.0, 0.04, 0.08, 0.2])
    assert result.time.dtype == np.float64
    assert (
        result.pose is not None and result.pose.shape == (4, 4, 4) and result.pose_kind == "rigid"
    )
    np.testing.assert_allclose(result.pose[3, :3, :3], frames[3]["opencv"]["R"][0], atol=1e-7)
    np.testing.assert_allclose(result.pose[3, :3, 3], frames[3]["opencv"]["t"][0], atol=1e-7)
    np.testing.assert_array_equal(result.pose[:, 3], np.tile([0, 0, 0, 1], (4, 1)))
    assert result.extras["K"].shape == (4, 3, 3)
    assert result.extras["img_size"].shape == (4, 2)


def test_metrical_accepts_tensors_and_sorts_by_frame_id(tmp_path: Path) -> None:
    write_frame(tmp_path, 10, tensors=True)
    write_frame(tmp_path, 9, tensors=True, name="9.frame")  # sorts after 00010.frame
    result = import_tracking("metrical-tracker", tmp_path, fps=30)
    np.testing.assert_allclose(result.time, [9 / 30, 10 / 30])
    np.testing.assert_allclose(result.pose[:, 0, 3], [0.09, 0.1], rtol=1e-6)


def test_metrical_refuses_pickled_objects(tmp_path: Path) -> None:
    write_frame(tmp_path, 0)
    write_frame(tmp_path, 1, flame__exp=NotData())
    with pytest.raises(InputError, match=r"00001\.frame: refused.*NotData.*weights_only"):
        import_tracking("metrical-tracker", tmp_path, fps=25)


def test_metrical_refuses_object_arrays(tmp_path: Path) -> None:
    write_frame(tmp_path, 0, flame__exp=np.array([1, "x"], dtype=object))
    with pytest.raises(InputError, match=r"00000\.frame: refused.*ObjectDType"):
        import_tracking("metrical-tracker", tmp_path, fps=25)


def test_metrical_wrong_shape_names_file_and_key(tmp_path: Path) -> None:
    write_frame(tmp_path, 7, flame__exp=np.zeros((1, 50), np.float32))
    with pytest.raises(
        InputError, match=r"00007\.frame: 'flame\.exp' has shape \[50\], expected \[100\]"
    ):
        import_tracking("metrical-tracker", tmp_path, fps=25)


def test_metrical_missing_key_names_what_is_there(tmp_path: Path) -> None:
    write_frame(tmp_path, 0, opencv={"K": np.eye(3)})
    with pytest.raises(InputError, match=r"00000\.frame: no 'opencv\.R' \(at opencv: \['K'\]\)"):
        import_tracking("metrical-tracker", tmp_path, fps=25)


def test_metrical_empty_directory_and_duplicates(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no .frame files"):
        import_tracking("metrical-tracker", tmp_path, fps=25)
    write_frame(tmp_path, 2)
    frame = torch.load(tmp_path / "00002.frame", weights_only=False)
    torch.save(frame, tmp_path / "copy.frame")
    with pytest.raises(InputError, match="frame_id 2 again"):
        import_tracking("metrical-tracker", tmp_path, fps=25)


def test_not_a_torch_file(tmp_path: Path) -> None:
    (tmp_path / "00000.frame").write_text("hello")
    with pytest.raises(InputError, match=r"00000\.frame: not a readable torch.save file"):
        import_tracking("metrical-tracker", tmp_path, fps=25)


# --- AD-NeRF / GaussianTalker --------------------------------------------------------


def write_track_params(path: Path, n: int = 6, **overrides: object) -> dict:
    params = {
        "id": torch.zeros(1, 100),
        "exp": torch.randn(n, 79),
        "euler": torch.randn(n, 3) * 0.2,
        "trans": torch.tensor([[0.1, -0.2, -8.0]]).repeat(n, 1) + torch.randn(n, 3) * 0.1,
        "focal": torch.tensor([1100.0]),
        "vertices": torch.zeros(n, 50, 3),  # GaussianTalker adds this; [N, 34650, 3] in life
    }
    params.update(overrides)
    torch.save(params, path)
    return params


def test_bfm_reads_track_params(tmp_path: Path) -> None:
    params = write_track_params(tmp_path / "track_params.pt")
    result = import_tracking("ad-nerf-bfm", tmp_path, fps=25)  # the directory works too
    assert result.space == "bfm-79" and result.expression.shape == (6, 79)
    np.testing.assert_allclose(result.expression, params["exp"].numpy())
    np.testing.assert_allclose(result.time, np.arange(6) / 25)
    assert result.pose is not None and result.pose.shape == (6, 4, 4)
    np.testing.assert_allclose(result.extras["focal"], 1100.0)


def test_adnerf_euler_convention() -> None:
    # AD-NeRF's euler2rot builds its matrices column by column: Rx(theta) e_y = (0, c, s),
    # Rz's first column is (cos psi, -sin psi, 0), Ry's first column (cos phi, 0, -sin phi).
    from avatarzoo.trackers.importers._rotations import adnerf_euler_to_matrix

    q = np.pi / 2
    r = adnerf_euler_to_matrix(np.array([[q, 0, 0], [0, q, 0], [0, 0, q]]))
    np.testing.assert_allclose(r[0] @ [0, 1, 0], [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(r[1] @ [1, 0, 0], [0, 0, -1], atol=1e-12)
    np.testing.assert_allclose(r[2] @ [1, 0, 0], [0, -1, 0], atol=1e-12)


def test_bfm_pose_projects_like_adnerf(tmp_path: Path) -> None:
    """OpenCV projection with the imported pose lands where AD-NeRF's `proj_geo` puts a
    point: u = -f X / Z + cx, v = f Y / Z + cy with X = euler2rot(euler) x + trans."""
    from avatarzoo.trackers.importers._rotations import adnerf_euler_to_matrix

    params = write_track_params(tmp_path / "track_params.pt", n=3)
    result = import_tracking("ad-nerf-bfm", tmp_path / "track_params.pt", fps=25)
    f, cx, cy = 1100.0, 256.0, 256.0
    points = RNG.normal(size=(5, 3))
    for i in range(3):
        gl = points @ adnerf_euler_to_matrix(params["euler"][i : i + 1].double().numpy())[0].T
        gl = gl + params["trans"][i].double().numpy()
        u_ref, v_ref = -f * gl[:, 0] / gl[:, 2] + cx, f * gl[:, 1] / gl[:, 2] + cy
        cv = points @ result.pose[i, :3, :3].T.astype(np.float64) + result.pose[i, :3, 3]
        assert np.all(cv[:, 2] > 0), "in front of an OpenCV camera"
        np.testing.assert_allclose(f * cv[:, 0] / cv[:, 2] + cx, u_ref, rtol=1e-4)
        np.testing.assert_allclose(f * cv[:, 1] / cv[:, 2] + cy, v_ref, rtol=1e-4)


def test_bfm_errors_name_the_file(tmp_path: Path) -> None:
    write_track_params(tmp_path / "a.pt", exp=torch.zeros(6, 64))
    with pytest.raises(InputError, match=r"a\.pt: 'exp' has shape \[6, 64\], expected \[\*, 79\]"):
        import_tracking("ad-nerf-bfm", tmp_path / "a.pt", fps=25)
    write_track_params(tmp_path / "b.pt", euler=torch.zeros(5, 3))
    with pytest.raises(InputError, match=r"b\.pt: 'euler' has shape \[5, 3\], expected \[6, 3\]"):
        import_tracking("ad-nerf-bfm", tmp_path / "b.pt", fps=25)
    write_track_params(tmp_path / "c.pt", meta=NotData())
    with pytest.raises(InputError, match=r"c\.pt: refused"):
        import_tracking("ad-nerf-bfm", tmp_path / "c.pt", fps=25)
    with pytest.raises(
        InputError,
        match=r"nothing: no such file or directory \(expected AD-NeRF's track_params\.pt",
    ):
        import_tracking("ad-nerf-bfm", tmp_path / "nothing", fps=25)


# --- Live Link Face CSV --------------------------------------------------------------

HEADER = ["Timecode", "BlendShapeCount"] + [n[0].upper() + n[1:] for n in ARKIT_BLENDSHAPES]
HEADER += [*HEAD_COLUMNS, *EYE_COLUMNS]


def write_csv(
    path: Path,
    timecodes: list[str],
    *,
    header: list[str] = HEADER,
    rows: list[list[str]] | None = None,
) -> np.ndarray:
    """A Live Link Face take; blendshape k of row i is (i + k / 100) / 10. Returns [N, 52]."""
    values = np.array([[(i + k / 100) / 10 for k in range(52)] for i in range(len(timecodes))])
    if rows is None:
        rows = [
            [tc, "61", *(f"{v:.6f}" for v in values[i]), "0.1", "-0.05", "0.02", *["0.01"] * 6]
            for i, tc in enumerate(timecodes)
        ]
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    return values


def test_arkit_reads_take(tmp_path: Path) -> None:
    codes = ["17:20:43:18.471", "17:20:43:19.471", "17:20:43:20.500", "17:20:43:21.471"]
    values = write_csv(tmp_path / "take.csv", codes)
    result = import_tracking("arkit-csv", tmp_path / "take.csv", fps=60)
    assert result.space == "arkit-52" and result.expression.shape == (4, 52)
    np.testing.assert_allclose(result.expression, values, atol=1e-6)
    np.testing.assert_allclose(result.time, [0, 1 / 60, 2.029 / 60, 3 / 60], atol=1e-9)
    assert result.time_origin == pytest.approx(17 * 3600 + 20 * 60 + 43 + 18.471 / 60)
    assert result.pose_kind == "rotation" and result.pose is not None
    rotation = result.pose[0, :3, :3].astype(np.float64)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-6)
    np.testing.assert_array_equal(result.pose[:, :3, 3], 0)
    assert result.extras["eye_yaw_pitch_roll"].shape == (4, 6)


def test_arkit_matches_columns_by_name(tmp_path: Path) -> None:
    order = [0, 1, *range(len(HEADER) - 1, 1, -1)]  # blendshapes reversed
    values = write_csv(tmp_path / "a.csv", ["00:00:00:00", "00:00:00:01"])
    rows = [line.split(",") for line in (tmp_path / "a.csv").read_text().splitlines()]
    (tmp_path / "b.csv").write_text("\n".join(",".join(r[j] for j in order) for r in rows))
    result = import_tracking("arkit-csv", tmp_path / "b.csv", fps=60)
    np.testing.assert_allclose(result.expression, values, atol=1e-6)


def test_arkit_without_head_columns_has_no_pose(tmp_path: Path) -> None:
    header = HEADER[: 2 + 52]
    rows = [[f"00:00:01:0{i}", "52", *["0.5"] * 52] for i in range(3)]
    write_csv(tmp_path / "t.csv", [], header=header, rows=rows)
    result = import_tracking("arkit-csv", tmp_path / "t.csv", fps=30)
    assert result.pose is None and result.pose_kind is None and result.extras == {}


def test_arkit_unwraps_midnight(tmp_path: Path) -> None:
    write_csv(tmp_path / "t.csv", ["23:59:59:58", "23:59:59:59", "00:00:00:00", "00:00:00:01"])
    result = import_tracking("arkit-csv", tmp_path / "t.csv", fps=60)
    np.testing.assert_allclose(result.time, np.arange(4) / 60, atol=1e-9)


@pytest.mark.parametrize(
    ("text", "fps", "seconds"),
    [
        ("00:00:01:30.500", 60, 1 + 30.5 / 60),
        ("01:02:03:04", 25, 3723 + 4 / 25),
        ("10:00:00;29", 30, 36000 + 29 / 30),
    ],
)
def test_parse_timecode(text: str, fps: float, seconds: float) -> None:
    assert parse_timecode(text, fps) == pytest.approx(seconds, abs=1e-12)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("12:00:00", "HH:MM:SS:FF"),
        ("12:61:00:00", "out of range"),
        ("12:00:00:30", "not below fps 30"),
    ],
)
def test_parse_timecode_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_timecode(text, 30)


def _malformed(tmp_path: Path, line: int, column: int, cell: str) -> Path:
    write_csv(tmp_path / "m.csv", [f"00:00:00:{i:02d}" for i in range(4)])
    lines = (tmp_path / "m.csv").read_text().splitlines()
    cells = lines[line - 1].split(",")
    cells[column] = cell
    lines[line - 1] = ",".join(cells)
    (tmp_path / "m.csv").write_text("\n".join(lines))
    return tmp_path / "m.csv"


def test_malformed_csv_errors_name_file_line_and_column(tmp_path: Path) -> None:
    path = _malformed(tmp_path, 4, 19, "oops")  # Timecode, BlendShapeCount, 17 shapes, JawOpen
    with pytest.raises(
        InputError, match=r"m\.csv:4: column 20 'JawOpen': expected a number, got 'oops'"
    ):
        import_tracking("arkit-csv", path, fps=60)
    path = _malformed(tmp_path, 3, 0, "0:00:00")
    with pytest.raises(InputError, match=r"m\.csv:3: column 1 'Timecode': expected HH:MM:SS:FF"):
        import_tracking("arkit-csv", path, fps=60)
    path = _malformed(tmp_path, 5, 0, "00:00:00:00")  # earlier than line 4's
    with pytest.raises(InputError, match=r"m\.csv:5: timecode 00:00:00:00 is not after"):
        import_tracking("arkit-csv", path, fps=60)
    path = _malformed(tmp_path, 2, 5, "0.1,0.2")
    with pytest.raises(InputError, match=r"m\.csv:2: 64 fields, the header has 63"):
        import_tracking("arkit-csv", path, fps=60)
    path = _malformed(tmp_path, 2, 0, "00:00:00:45")
    with pytest.raises(InputError, match=r"m\.csv:2: .*not below fps 30"):
        import_tracking("arkit-csv", path, fps=30)


def test_csv_header_must_name_the_blendshapes(tmp_path: Path) -> None:
    header = [h for h in HEADER if h not in ("JawOpen", "TongueOut")]
    rows = [["00:00:00:00", *["0"] * (len(header) - 1)]]
    write_csv(tmp_path / "h.csv", [], header=header, rows=rows)
    with pytest.raises(InputError, match=r"h\.csv:1: the header lacks jawOpen, tongueOut"):
        import_tracking("arkit-csv", tmp_path / "h.csv", fps=60)
    (tmp_path / "e.csv").write_text(",".join(HEADER) + "\n")
    with pytest.raises(InputError, match=r"e\.csv: a header but no rows"):
        import_tracking("arkit-csv", tmp_path / "e.csv", fps=60)


# --- resampling and the entry point --------------------------------------------------


def _tracking(time: np.ndarray, angles: np.ndarray | None = None) -> ImportedTracking:
    n = len(time)
    pose = None
    if angles is not None:
        pose = np.tile(np.eye(4, dtype=np.float32), (n, 1, 1))
        pose[:, :3, :3] = rot_z(angles)
        pose[:, :3, 3] = np.arange(n)[:, None]
    return ImportedTracking(
        space="bfm-79",
        expression=np.arange(n * 79, dtype=np.float32).reshape(n, 79),
        time=np.asarray(time, dtype=np.float64),
        pose=pose,
        pose_kind=None if pose is None else "rigid",
        source=Path("x.pt"),
        extras={"focal": np.arange(n, dtype=np.float32)},
    )


def test_resample_interpolates_linearly() -> None:
    source = _tracking(np.array([0.0, 0.04, 0.08]), angles=np.array([0.0, 0.4, 0.8]))
    out = resample(source, np.array([0.0, 0.02, 0.07, 0.08]))
    assert out.expression.shape == (4, 79) and out.time.dtype == np.float64
    np.testing.assert_allclose(out.expression[:, 0], [0, 39.5, 0.75 * 79 + 79, 158], rtol=1e-6)
    np.testing.assert_allclose(out.extras["focal"], [0, 0.5, 1.75, 2], rtol=1e-6)
    # Between two rotations about one axis, lerp + projection onto SO(3) is the mid-angle.
    np.testing.assert_allclose(out.pose[1, :3, :3], rot_z(np.array([0.2]))[0], atol=1e-6)
    np.testing.assert_allclose(out.pose[1, :3, 3], 0.5, atol=1e-6)
    r = out.pose[:, :3, :3].astype(np.float64)
    np.testing.assert_allclose(r @ r.transpose(0, 2, 1), np.tile(np.eye(3), (4, 1, 1)), atol=1e-6)


def test_resample_refuses_times_outside_the_import() -> None:
    source = _tracking(np.arange(10) / 25)
    with pytest.raises(
        InputError,
        match=r"x\.pt: the imported tracking covers 0\.000\.\.0\.360 s .* needs 0\.000\.\.1\.000 s",
    ):
        resample(source, np.linspace(0, 1, 5))
    # Within half a frame of the ends the end sample is held.
    out = resample(source, np.array([-0.015, 0.375]))
    np.testing.assert_allclose(out.expression[:, 0], [0, 9 * 79])


def test_imported_tracking_checks_shapes() -> None:
    with pytest.raises(ValueError, match=r"expression: expected float32 array \[2, 79\]"):
        ImportedTracking(
            "bfm-79", np.zeros((2, 80), np.float32), np.arange(2.0), None, None, Path("x")
        )
    with pytest.raises(InputError, match="must strictly increase"):
        ImportedTracking(
            "bfm-79", np.zeros((2, 79), np.float32), np.zeros(2), None, None, Path("x")
        )


def test_import_tracking_entry_point() -> None:
    assert set(FORMATS) == set(DEFAULT_FPS) == {"metrical-tracker", "ad-nerf-bfm", "arkit-csv"}
    assert {space_of(f) for f in FORMATS} == {"flame", "bfm-79", "arkit-52"}
    assert all(get_space(space_of(f)) for f in FORMATS)
    with pytest.raises(InputError, match="did you mean 'arkit-csv'"):
        import_tracking("arkit_csv", Path("x.csv"), fps=60)
    with pytest.raises(InputError, match="fps must be positive"):
        import_tracking("arkit-csv", Path("x.csv"), fps=0)


def test_importing_the_package_does_not_import_torch() -> None:
    code = "import sys, avatarzoo.trackers.importers; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bfm_accepts_half_precision_and_grad_tensors(tmp_path: Path) -> None:
    exp = torch.randn(6, 79, requires_grad=True)
    write_track_params(tmp_path / "p.pt", exp=exp, euler=torch.zeros(6, 3, dtype=torch.bfloat16))
    result = import_tracking("ad-nerf-bfm", tmp_path / "p.pt", fps=25)
    np.testing.assert_allclose(result.expression, exp.detach().numpy())
    np.testing.assert_allclose(result.pose[:, :3, :3], np.tile(np.diag([1.0, -1, -1]), (6, 1, 1)))
