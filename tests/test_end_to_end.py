"""The whole vertical on real footage: recipe → ingest → track → fit renderer and
audio driver → evaluate → package → load → render / speak, through the CLI, on 6 s of
the demo clip (profile `smoke`).
It checks the wiring and the contracts between the stages; quality is measured by the
full builds recorded in BENCHMARKS.md."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import avatarzoo
from avatarzoo.cli import main
from avatarzoo.errors import BundleError

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "demo-v1.yaml"


@pytest.fixture(scope="module")
def built(smoke_build):
    return smoke_build


def run(*args):
    return CliRunner().invoke(main, [*args])


def test_build_runs_every_implemented_stage(built):
    cache, output = built
    for stage in ["ingest", "track", "fit_renderer", "fit_audio_driver", "evaluate", "package"]:
        assert f"✓ {stage} done" in output
    assert f"bundle demo-v1 → {cache / 'bundles' / 'demo-v1'}" in output


def test_plan_after_build_is_all_cached(built):
    cache, _ = built
    result = run("plan", str(RECIPE), "--profile", "smoke", "--cache", str(cache))
    assert result.exit_code == 0
    assert "to run" not in result.output and result.output.count("cached") == 6


def test_bundle_contents_and_card(built):
    cache, _ = built
    bundle = cache / "bundles" / "demo-v1"
    assert {p.name for p in bundle.iterdir()} == {
        "model.safetensors", "config.json", "README.md", "manifest.json", "preview.png"}
    config = json.loads((bundle / "config.json").read_text())
    assert config["recipe"]["renderer"]["steps"] == 60  # the resolved recipe, profile applied
    assert str(ROOT) not in (bundle / "config.json").read_text()  # movable: no absolute paths
    card = (bundle / "README.md").read_text()
    assert "library_name: avatarzoo" in card and "model-index" in card and "psnr_full" in card
    # the header metadata is what schemas/bundle-metadata.schema.json describes
    import jsonschema

    from avatarzoo.bundle.io import read_bundle
    from avatarzoo.catalog import BundleMetadata

    metadata = read_bundle(bundle).metadata
    BundleMetadata.model_validate(metadata)
    schema = json.loads((ROOT / "schemas" / "bundle-metadata.schema.json").read_text())
    jsonschema.validate(metadata, schema)


def test_load_render_and_replay(built, tmp_path, monkeypatch):
    cache, _ = built
    monkeypatch.setenv("AVATARZOO_CACHE", str(cache))
    avatar = avatarzoo.load("demo-v1")
    assert avatar.size == 96 and avatar.space.name == "face-64"
    frame = avatar.render()
    assert frame.shape == (96, 96, 3) and frame.dtype == np.uint8 and frame.std() > 10
    two = avatar.render(np.zeros((2, avatar.space.dim), np.float32))
    assert two.shape == (2, 96, 96, 3)
    with pytest.raises(ValueError, match=r"expression: expected shape \(64,\)"):
        avatar.render(np.zeros(3))
    out = run("render", "demo-v1", "-o", str(tmp_path / "demo.mp4"), "--cache", str(cache))
    assert out.exit_code == 0, out.output
    import av

    with av.open(str(tmp_path / "demo.mp4")) as c:
        kinds = {s.type for s in c.streams}
        n = sum(1 for _ in c.decode(video=0))
    assert kinds == {"video", "audio"} and n == 30  # the 20% held out of 6 s at 25 fps


def test_load_with_compile_asks_the_renderer_for_its_fast_path(built, monkeypatch):
    """`avatarzoo.load(..., compile=True)` reaches the renderer kind; on the CPU the
    Gaussian renderer stays eager (its compiled path is CUDA's) and renders the same."""
    from avatarzoo.renderers.gaussian.runtime import GaussianRenderer

    cache, _ = built
    monkeypatch.setenv("AVATARZOO_CACHE", str(cache))
    asked: list[dict] = []
    real = GaussianRenderer.from_tensors.__func__

    def spy(cls, tensors, config, device="cpu", **kw):
        asked.append(kw)
        return real(cls, tensors, config, device, **kw)

    monkeypatch.setattr(GaussianRenderer, "from_tensors", classmethod(spy))
    default, fast = avatarzoo.load("demo-v1"), avatarzoo.load("demo-v1", compile=True)
    assert asked == [{}, {"compile": True}]  # not passed at all unless asked for
    assert not fast.renderer.compiled
    assert np.array_equal(default.render(), fast.render())


def _tracking(cache: Path):
    from avatarzoo.contracts.tracking import Tracking
    from avatarzoo.recipe import load_recipe
    from avatarzoo.stages.graph import plan_stages

    key = {s.name: s.key for s in plan_stages(load_recipe(RECIPE, profile="smoke"))}["track"]
    return Tracking.load(cache / "stages" / "track" / key / "tracking.safetensors")


def _box(points: np.ndarray, pad: float, size: int) -> np.ndarray:
    """[S, S] bool: the bounding box of points [..., 2] (px), padded by `pad` × its width."""
    p = points.reshape(-1, 2)
    (x0, y0), (x1, y1) = p.min(0), p.max(0)
    m = pad * (x1 - x0)
    box = np.zeros((size, size), bool)
    box[max(0, int(y0 - m)):int(y1 + m) + 1, max(0, int(x0 - m)):int(x1 + m) + 1] = True
    return box


def test_jaw_open_moves_the_mouth_and_not_the_background(built, monkeypatch):
    """Raising jaw_open by 2 code units changes the render around the mouth (the lips'
    box, padded by half its width, where the chin goes too) and leaves what lies outside
    the face still: measured on the 60-step smoke avatar, 80% of the change inside the
    mouth box, 16× the mean change outside it, at most 1 level outside the face."""
    from avatarzoo.renderers.gaussian.init import LIPS

    cache, _ = built
    monkeypatch.setenv("AVATARZOO_CACHE", str(cache))
    avatar = avatarzoo.load("demo-v1")
    tracking = _tracking(cache)
    train = tracking.landmarks[:80]
    mouth = _box(train[:, list(LIPS), :2], 0.5, avatar.size)
    face = _box(train[:, :, :2], 0.15, avatar.size)
    e = np.repeat(tracking.expression[:80].mean(0, keepdims=True), 2, 0)
    e[1, avatar.space.channel("jaw_open")] += 2.0
    frames = avatar.render(e).astype(np.float64)
    change = np.abs(frames[1] - frames[0]).max(-1)  # [S, S] levels
    assert change[mouth].max() >= 10  # the mouth visibly opens
    assert change[mouth].sum() >= 0.5 * change.sum()
    assert change[mouth].mean() >= 5 * change[~mouth].mean()
    assert change[~face].max() <= 3  # background and torso: noise at most


def test_speak_writes_the_speech_in_sync_and_the_mouth_rests_in_silence(built, tmp_path, monkeypatch):
    """`avatarzoo speak` on 15 s of speech the avatar never heard (data/speech-espeak.wav:
    0.5 s of silence, a sentence, 1 s of silence, two sentences, 1 s of silence)."""
    import av

    from avatarzoo.drivers.audio import read_audio

    cache, _ = built
    speech = ROOT / "data" / "speech-espeak.wav"
    out = run("speak", "demo-v1", "--audio", str(speech), "-o", str(tmp_path / "s.mp4"), "--cache", str(cache))
    assert out.exit_code == 0, out.output
    seconds = len(read_audio(speech)) / 16000
    with av.open(str(tmp_path / "s.mp4")) as c:
        n = sum(1 for _ in c.decode(video=0))
        audio_s = float(c.streams.audio[0].duration * c.streams.audio[0].time_base)
    assert n == int(np.ceil(seconds * 25)) and abs(audio_s - seconds) < 0.1
    monkeypatch.setenv("AVATARZOO_CACHE", str(cache))
    avatar = avatarzoo.load("demo-v1")
    motion = avatar.drive(speech)
    mouth = motion.expression[:, avatar.space.channel("mouth_open")]
    t = motion.time
    talking, quiet = mouth[(t > 1.0) & (t < 5.0)], mouth[t > seconds - 0.7]
    assert talking.std() > 4 * quiet.std()  # the mouth moves with the speech and rests after it
    assert motion.activity[t > seconds - 0.7].max() < 0.1 and motion.activity[(t > 1) & (t < 5)].mean() > 0.5


def test_list_show_eval(built):
    cache, _ = built
    assert "demo-v1" in run("list", "--cache", str(cache)).output
    shown = run("show", "demo-v1", "--cache", str(cache))
    assert shown.exit_code == 0 and "model.safetensors" in shown.output and "psnr_full" in shown.output
    ev = run("eval", "demo-v1", "--cache", str(cache))
    assert ev.exit_code == 0 and "baseline" in ev.output


def test_altered_bundle_refuses_to_load(built, tmp_path):
    import shutil

    cache, _ = built
    copy = tmp_path / "demo-v1"
    shutil.copytree(cache / "bundles" / "demo-v1", copy)
    f = copy / "model.safetensors"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x01
    f.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="model.safetensors: content does not match"):
        avatarzoo.load(copy)
    result = run("show", str(copy))
    assert result.exit_code == 2 and "model.safetensors" in result.output
