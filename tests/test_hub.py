"""Publish and pull through the real huggingface_hub client, over HTTP, against the
Hub-compatible test server (tests/hub_server.py) on 127.0.0.1.

Every test gets a fresh Hugging Face cache (HF_HOME), its own zoo (AVATARZOO_ZOO: a
catalog and cards/ of its own), its own local store (conftest) and its own repo names;
the server counts every request, so "no network call" is asserted, not assumed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

import avatarzoo
from avatarzoo.bundle import read_bundle, write_bundle
from avatarzoo.files import file_sha256
from avatarzoo.bundle.store import BundleStore
from avatarzoo.cli import main
from avatarzoo.errors import BundleError, CatalogError, HubError, NotFoundError
from avatarzoo.hub.catalog import read_catalog
from hub_server import HubServer

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "hf_test_token"
MANIFEST_NAMES = {"model.safetensors", "config.json", "README.md", "manifest.json", "preview.png"}


# --- fixtures --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = HubServer(tmp_path_factory.mktemp("hub-server"), token=TOKEN).start()
    yield srv
    srv.stop()


def _package(root: Path, ingest: Path, track: Path, fit: Path, avatar_id: str) -> Path:
    """Run the real `package` stage on the synthetic subject's stage outputs."""
    from avatarzoo.bundle.stage import run as package
    from avatarzoo.stages.context import StageContext

    name, version = avatar_id.rsplit("-v", 1)
    recipe = SimpleNamespace(
        id=avatar_id, avatar=name, version=int(version),
        renderer=SimpleNamespace(kind="gaussian"), audio_driver=None,
        card=SimpleNamespace(license="cc-by-4.0", consent="synthetic subject, no person",
                             source="renderers.gaussian.synthetic", description="", tags=("test",)),
        model_dump_json=lambda: json.dumps({"id": avatar_id}),
        model_dump=lambda mode="json": {"id": avatar_id},
    )
    out = root / f"package-{avatar_id}"
    out.mkdir()
    (root / "eval").mkdir(exist_ok=True)
    import cv2

    cv2.imwrite(str(root / "eval" / "contact_sheet.png"), np.full((8, 8, 3), 127, np.uint8))
    (root / "eval" / "metrics.json").write_text(json.dumps({"headline": {"psnr_full": 30.0}}))
    package(StageContext(recipe=recipe, recipe_dir=root, out=out, scratch=root / "scratch-p",
                         inputs={"ingest": ingest, "track": track, "fit_renderer": fit, "evaluate": root / "eval"},
                         log=logging.getLogger("test")))
    return out / "bundle"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """A small renderable bundle: the synthetic subject (48², 12 frames), its renderer
    fitted for a few steps, packaged by the package stage."""
    from avatarzoo.recipe.models import GaussianRendererConfig
    from avatarzoo.renderers.gaussian import synthetic
    from avatarzoo.renderers.gaussian.stage import run as fit_renderer
    from avatarzoo.stages.context import StageContext

    root = tmp_path_factory.mktemp("syn")
    ingest, track = synthetic.make_recording(root, n=12, size=48, holdout=0.25, detail=0.15)
    fit = root / "fit"
    fit.mkdir()
    cfg = GaussianRendererConfig(space="synthetic-4", gaussians=400, steps=4, densify_every=0, checkpoint_every=4)
    fit_renderer(StageContext(recipe=SimpleNamespace(renderer=cfg), recipe_dir=root, out=fit,
                              inputs={"ingest": ingest, "track": track}, scratch=root / "scratch",
                              log=logging.getLogger("test")))
    path = _package(root, ingest, track, fit, "syn-v1")
    assert {p.name for p in path.iterdir()} == MANIFEST_NAMES
    return path


@pytest.fixture
def hub(server, tmp_path, monkeypatch):
    """The environment a user of a Hub at HF_ENDPOINT has, for this test only."""
    import huggingface_hub.constants

    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    zoo = tmp_path / "zoo-root"
    (zoo / "zoo").mkdir(parents=True)
    shutil.copy(ROOT / "zoo" / "catalog.yaml", zoo / "zoo" / "catalog.yaml")
    env = {"HF_ENDPOINT": server.base, "HF_HOME": str(tmp_path / "hf-home"), "HF_TOKEN": TOKEN,
           "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "AVATARZOO_ZOO": str(zoo)}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    # huggingface_hub read HF_HUB_DISABLE_XET when it was imported; the test server has no Xet
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
    return SimpleNamespace(server=server, zoo=zoo, catalog=zoo / "zoo" / "catalog.yaml",
                           hf_home=tmp_path / "hf-home", store=BundleStore.open(), tmp=tmp_path)


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def publish(hub, bundle: Path, repo: str, *extra) -> dict:
    """`avatarzoo push` the bundle from the local store; returns its catalog entry."""
    avatar_id = read_bundle(bundle).id
    hub.store.install(avatar_id, bundle)
    result = cli("push", avatar_id, "--repo", repo, *extra)
    assert result.exit_code == 0, result.output
    return read_catalog(hub.catalog).get(avatar_id)


def forget(hub, avatar_id: str) -> None:
    """Empty the local store and the Hub cache, so that `avatar_id` must come from the Hub."""
    shutil.rmtree(hub.store.path(avatar_id), ignore_errors=True)
    shutil.rmtree(hub.hf_home, ignore_errors=True)


def resolved(requests) -> set[str]:
    """The file names the client fetched (GET) through the resolve endpoint."""
    return {p.rsplit("/", 1)[1] for m, p in requests if m == "GET" and "/resolve/" in p}


def subprocess_cli(hub, *args, **env):
    full = {**os.environ, "HF_HUB_DISABLE_XET": "1", **env}
    return subprocess.run([sys.executable, "-m", "avatarzoo.cli", *map(str, args)], capture_output=True,
                          text=True, env=full, timeout=120)


# --- the round trip ----------------------------------------------------------------------

def test_push_pull_load_round_trip_is_bit_identical(hub, bundle):
    n = hub.server.count()
    entry = publish(hub, bundle, "alice/syn")
    pushed = hub.server.requests_since(n)
    assert not hub.server.unknown
    # one commit, one tag, LFS for the binaries, nothing through Xet
    assert sum(1 for m, p in pushed if m == "POST" and "/commit/" in p) == 1
    assert sum(1 for m, p in pushed if m == "POST" and "/tag/" in p) == 1
    assert any(m == "PUT" and p.startswith("/_lfs/") for m, p in pushed)
    assert not any("xet" in p for _, p in pushed)
    # the catalog entry: pinned to the tag's commit, the model's sha256 and size, card written
    repo = hub.server.repos["alice/syn"]
    assert entry.repo == "alice/syn" and entry.tag == "v1" and entry.revision == repo.tags["v1"]
    assert entry.sha256 == file_sha256(bundle / "model.safetensors")
    assert entry.size == (bundle / "model.safetensors").stat().st_size and entry.license == "cc-by-4.0"
    assert (hub.zoo / "cards" / "syn-v1.md").read_text() == (bundle / "README.md").read_text()
    assert set(repo.commits[entry.revision].files) == MANIFEST_NAMES | {".gitattributes"}
    # and it validates against the shipped JSON Schema, as well as on read
    import jsonschema

    schema = json.loads((ROOT / "schemas" / "catalog.schema.json").read_text())
    jsonschema.validate(yaml.safe_load(hub.catalog.read_text()), schema)

    forget(hub, "syn-v1")
    n = hub.server.count()
    avatar = avatarzoo.load("syn-v1")
    pulled = hub.server.requests_since(n)
    assert resolved(pulled) == MANIFEST_NAMES  # only the bundle's own files, not .gitattributes
    assert avatar.bundle.path == hub.hf_home / "hub" / "models--alice--syn" / "snapshots" / entry.revision

    from avatarzoo.runtime.avatar import Avatar

    original = Avatar(read_bundle(bundle))
    ours, theirs = avatar.bundle.tensors(), original.bundle.tensors()
    assert ours.keys() == theirs.keys()
    for k in ours:
        assert ours[k].dtype == theirs[k].dtype and torch.equal(ours[k], theirs[k]), k
    e = theirs["demo.expression"][:3]
    p, b = theirs["demo.pose"][:3], theirs["demo.body"][:3]
    assert np.array_equal(avatar.render(e, p, b), original.render(e, p, b))
    assert np.array_equal(avatar.render(), original.render())


def test_cached_id_loads_with_no_request_online_and_offline(hub, bundle, monkeypatch):
    entry = publish(hub, bundle, "alice/cached")
    forget(hub, "syn-v1")
    avatarzoo.load("syn-v1")  # fills the Hub cache
    n = hub.server.count()
    avatarzoo.load("syn-v1")  # online, pinned and cached: nothing to ask
    assert hub.server.count() == n
    # a tag is not a pin: online, resolving it is one metadata request, and nothing is downloaded
    avatarzoo.load("hf-hub:alice/cached@v1")
    assert hub.server.requests_since(n) == [("GET", "/api/models/alice/cached/revision/v1")]
    n = hub.server.count()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert avatarzoo.load("syn-v1").id == "syn-v1"
    assert avatarzoo.load(f"hf-hub:alice/cached@{entry.revision}").id == "syn-v1"
    assert avatarzoo.load("hf-hub:alice/cached@v1").id == "syn-v1"  # the tag, from the cache's refs
    assert hub.server.count() == n
    # and through the CLI, in a process whose environment says offline from the start
    out = subprocess_cli(hub, "show", "syn-v1", HF_HUB_OFFLINE="1")
    assert out.returncode == 0, out.stderr
    assert "syn-v1" in out.stdout and "model.safetensors" in out.stdout
    assert hub.server.count() == n


def test_offline_without_the_bundle_fails_fast_saying_what_to_pull(hub, bundle, monkeypatch):
    publish(hub, bundle, "alice/offline")
    forget(hub, "syn-v1")
    n = hub.server.count()
    for args, pull in [(("show", "syn-v1"), "avatarzoo pull syn-v1"),
                       (("render", "syn-v1", "-o", hub.tmp / "x.mp4"), "avatarzoo pull syn-v1"),
                       (("pull", "alice/offline@v1"), "avatarzoo pull alice/offline@v1")]:
        out = subprocess_cli(hub, *args, HF_HUB_OFFLINE="1")
        assert out.returncode == 2, out.stderr
        assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "HF_HUB_OFFLINE=1 forbids downloading it" in out.stderr and f"run `{pull}` while online" in out.stderr
    assert hub.server.count() == n
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(NotFoundError, match=r"^syn-v1 \(zoo catalog: alice/offline@v1, revision [0-9a-f]{12}\)"
                                            r" is not in the Hugging Face cache"):
        avatarzoo.load("syn-v1")
    assert hub.server.count() == n


# --- what arrives must be what was published ---------------------------------------------

def test_one_byte_changed_on_the_server_is_refused(hub, bundle, monkeypatch):
    entry = publish(hub, bundle, "alice/tampered")
    hub.server.tamper("alice/tampered", "v1", "model.safetensors", entry.size // 2)
    forget(hub, "syn-v1")

    def never(*a, **k):
        raise AssertionError("a tensor was loaded from a refused bundle")

    monkeypatch.setattr("safetensors.torch.load_file", never)
    for name in ("syn-v1", "hf-hub:alice/tampered@v1"):
        with pytest.raises(BundleError, match=r"model\.safetensors: content does not match its sha256 in"
                                              r" manifest\.json .*delete .*models--alice--tampered and pull again"):
            avatarzoo.load(name)
    result = cli("show", "syn-v1")
    assert result.exit_code == 2 and "content does not match" in result.output


def test_catalog_sha256_that_does_not_match_what_arrived_is_refused_naming_both(hub, bundle, tmp_path):
    entry = publish(hub, bundle, "alice/rewritten")
    # the repo is rewritten under its pinned revision with another, self-consistent bundle
    other = write_bundle(tmp_path / "other", tensors={"renderer.x": torch.ones(3)},
                         metadata={"avatarzoo.id": "syn-v1"}, config={}, card=(bundle / "README.md").read_text())
    hub.server.replace("alice/rewritten", entry.revision, {
        "model.safetensors": (other / "model.safetensors").read_bytes(),
        "manifest.json": (other / "manifest.json").read_bytes(),
        "config.json": (other / "config.json").read_bytes(),
    })
    forget(hub, "syn-v1")
    n = hub.server.count()
    arrived = file_sha256(other / "model.safetensors")
    with pytest.raises(BundleError) as info:
        avatarzoo.load("syn-v1")
    msg = str(info.value)
    assert arrived in msg and entry.sha256 in msg and "\n" not in msg
    assert "model.safetensors" not in resolved(hub.server.requests_since(n))  # refused before the download


def test_catalog_entry_naming_another_avatar_is_refused(hub, bundle, tmp_path):
    publish(hub, bundle, "alice/impostor")
    data = yaml.safe_load(hub.catalog.read_text())
    e = data["avatars"][0]
    e.update(id="mallory-v1", avatar="mallory", card="cards/mallory-v1.md")
    hub.catalog.write_text(yaml.safe_dump(data))
    with pytest.raises(BundleError, match=r"the bundle is 'syn-v1', but the zoo catalog lists this repo"
                                          r" and revision as 'mallory-v1'"):
        avatarzoo.load("mallory-v1")


# --- untrusted bundles from the Hub --------------------------------------------------------

def _upload_raw(hub, repo: str, files: dict[str, bytes]) -> str:
    """Publish files as they are (bypassing `avatarzoo push`), tag v1; returns the commit."""
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(endpoint=hub.server.base, token=TOKEN)
    api.create_repo(repo, exist_ok=True)
    info = api.create_commit(repo, [CommitOperationAdd(p, d) for p, d in files.items()], commit_message="raw")
    api.create_tag(repo, tag="v1", revision=info.oid)
    return info.oid


def _files(bundle: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in bundle.iterdir()}


def _manifest_with(files: dict[str, bytes], **entries) -> bytes:
    m = json.loads(files["manifest.json"])
    m["files"].update(entries)
    return json.dumps(m).encode()


@pytest.mark.parametrize("case", ["dotdot", "absolute", "not-a-bundle-file"])
def test_manifest_naming_paths_outside_or_foreign_files_is_refused_before_download(hub, bundle, case):
    files = _files(bundle)
    evil = {"dotdot": "../../../../escape.txt", "absolute": "/etc/cron.d/evil", "not-a-bundle-file": "run.py"}[case]
    files["manifest.json"] = _manifest_with(files, **{evil: {"sha256": "0" * 64, "size": 4}})
    if case == "not-a-bundle-file":
        files["run.py"] = b"boom"
    repo = f"mallory/{case}"
    _upload_raw(hub, repo, files)
    n = hub.server.count()
    with pytest.raises(BundleError) as info:
        avatarzoo.load(f"hf-hub:{repo}@v1")
    assert evil in str(info.value) and "\n" not in str(info.value)
    assert resolved(hub.server.requests_since(n)) == {"manifest.json"}


def test_files_the_manifest_does_not_list_are_never_downloaded(hub, bundle):
    files = _files(bundle)
    files["evil.pkl"] = b"\x80\x04K\x01."
    _upload_raw(hub, "mallory/extra", files)
    n = hub.server.count()
    avatar = avatarzoo.load("hf-hub:mallory/extra", revision="v1")
    assert resolved(hub.server.requests_since(n)) == MANIFEST_NAMES
    assert not (avatar.bundle.path / "evil.pkl").exists()


def test_header_that_lies_about_sizes_is_refused_after_download(hub, bundle, tmp_path):
    import struct

    files = _files(bundle)
    raw = files["model.safetensors"]
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen])
    key = next(k for k in sorted(header) if k != "__metadata__")
    header[key]["shape"] = [d * 2 for d in header[key]["shape"]] or [2]
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    model = struct.pack("<Q", len(text)) + text + raw[8 + hlen:]
    files["model.safetensors"] = model
    files["manifest.json"] = _manifest_with(files, **{"model.safetensors": {
        "sha256": __import__("hashlib").sha256(model).hexdigest(), "size": len(model)}})
    _upload_raw(hub, "mallory/liar", files)
    with pytest.raises(BundleError, match=rf"tensor '{key}' is .* bytes but its data_offsets span .* the header lies"):
        avatarzoo.load("hf-hub:mallory/liar@v1")


def test_manifest_sizes_that_disagree_with_the_repo_are_refused_before_download(hub, bundle):
    files = _files(bundle)
    files["manifest.json"] = _manifest_with(files, **{"model.safetensors": {
        "sha256": "0" * 64, "size": 10**12}})
    _upload_raw(hub, "mallory/huge", files)
    n = hub.server.count()
    with pytest.raises(BundleError, match=r"model\.safetensors is \d+ bytes in the repo but manifest\.json says"
                                          r" 1000000000000; refusing to download it"):
        avatarzoo.load("hf-hub:mallory/huge@v1")
    assert resolved(hub.server.requests_since(n)) == {"manifest.json"}


# --- names, revisions, tokens, errors --------------------------------------------------------

def test_pull_command_and_hub_names(hub, bundle):
    entry = publish(hub, bundle, "alice/names")
    forget(hub, "syn-v1")
    result = cli("pull", "alice/names@v1")
    assert result.exit_code == 0, result.output
    assert f"syn-v1: alice/names revision {entry.revision}, verified" in result.output
    for name, kw in [("hf-hub:alice/names@v1", {}), ("alice/names@v1", {}), ("hf-hub:alice/names", {"revision": "v1"}),
                     (f"hf-hub:alice/names@{entry.revision}", {})]:
        assert avatarzoo.load(name, **kw).id == "syn-v1"
    result = cli("pull", "syn-v1")  # a catalogued id: its pinned revision
    assert result.exit_code == 0 and entry.revision in result.output
    snapshot = result.output.strip().splitlines()[-1].strip()  # the directory pull prints loads too
    assert avatarzoo.load(snapshot).id == "syn-v1"
    result = cli("show", "hf-hub:alice/names@v1")
    assert result.exit_code == 0 and "psnr_full" in result.output
    with pytest.raises(NotFoundError, match=r"names revision 'v1' but revision='v2' was given"):
        avatarzoo.load("hf-hub:alice/names@v1", revision="v2")
    with pytest.raises(NotFoundError, match=r"'alice/names' is not a bundle directory; for the Hub repo write"
                                            r" 'hf-hub:alice/names'"):
        avatarzoo.load("alice/names")


def test_unknown_repo_and_revision_are_one_line_errors(hub, bundle):
    publish(hub, bundle, "alice/known")
    with pytest.raises(NotFoundError, match=r"^alice/known on http://127\.0\.0\.1:\d+ has no revision 'v9'") as info:
        avatarzoo.load("hf-hub:alice/known@v9")
    assert "\n" not in str(info.value)
    with pytest.raises(NotFoundError, match=r"^no repo alice/nothing on .* set HF_TOKEN$"):
        avatarzoo.load("hf-hub:alice/nothing@v1")
    result = cli("pull", "alice/nothing@v1")
    assert result.exit_code == 2 and result.output.startswith("error: no repo alice/nothing")
    with pytest.raises(NotFoundError, match=r"no avatar 'syn-v2' in the local store .* nor in the zoo catalog .*"
                                            r" \(did you mean 'syn-v1'\?\)"):
        avatarzoo.load("syn-v2")


def test_unreachable_hub_is_one_line_error(hub, monkeypatch):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(HubError, match=r"^cannot reach the Hub at http://127\.0\.0\.1:\d+ to download"
                                       r" alice/x@v1 .*set HF_HUB_OFFLINE=1 to use cached avatars only$"):
        avatarzoo.load("hf-hub:alice/x@v1")


def test_private_repo_needs_the_token(hub, bundle, monkeypatch):
    publish(hub, bundle, "alice/private", "--private")
    assert hub.server.repos["alice/private"].private
    forget(hub, "syn-v1")
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(NotFoundError, match=r"no repo alice/private on .*private and HF_TOKEN"):
        avatarzoo.load("syn-v1")
    hub.store.install("syn-v1", bundle)
    result = cli("push", "syn-v1", "--repo", "alice/other")  # refused before any request
    assert result.exit_code == 2 and "is already published as alice/private@v1" in result.output
    shutil.rmtree(hub.store.path("syn-v1"))
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert avatarzoo.load("syn-v1").id == "syn-v1"


def test_push_without_a_write_token_is_refused(hub, bundle, monkeypatch):
    hub.store.install("syn-v1", bundle)
    monkeypatch.setenv("HF_TOKEN", "wrong")
    result = cli("push", "syn-v1", "--repo", "alice/denied")
    assert result.exit_code == 2
    assert "does not let you write to alice/denied (HTTP 401): set HF_TOKEN to a token with write access" in result.output
    assert not read_catalog(hub.catalog).avatars


def test_push_again_is_idempotent_and_a_different_bundle_under_the_tag_is_refused(hub, bundle, tmp_path):
    entry = publish(hub, bundle, "alice/again")
    n = hub.server.count()
    result = cli("push", "syn-v1", "--repo", "alice/again")
    assert result.exit_code == 0, result.output
    assert not any("/commit/" in p or "/tag/" in p for _, p in hub.server.requests_since(n))
    assert read_catalog(hub.catalog).get("syn-v1") == entry
    # another syn-v1, from a zoo that has not recorded the first one: the tag already holds v1
    other = write_bundle(tmp_path / "other", tensors={"renderer.x": torch.ones(3)},
                         metadata={"avatarzoo.id": "syn-v1"}, config={}, card=(bundle / "README.md").read_text())
    hub.store.install("syn-v1", other)
    hub.catalog.write_text("avatars: []\n")
    result = cli("push", "syn-v1", "--repo", "alice/again")
    assert result.exit_code == 2
    assert "alice/again already has tag v1" in result.output and "holding a different bundle" in result.output


def test_push_to_a_branch(hub, bundle):
    entry = publish(hub, bundle, "alice/branchy", "--revision", "release")
    repo = hub.server.repos["alice/branchy"]
    assert repo.branches["release"] == entry.revision == repo.tags["v1"]
    assert repo.branches["main"] != entry.revision


def test_list_shows_local_and_catalogued_avatars(hub, bundle):
    publish(hub, bundle, "alice/listed")
    out = cli("list").output
    assert "syn-v1                   local" in out
    assert "syn-v1                   catalog   alice/listed@v1" in out and "not cached (`avatarzoo pull syn-v1`)" in out
    forget(hub, "syn-v1")
    assert cli("pull", "syn-v1").exit_code == 0
    out = cli("list").output
    assert "syn-v1                   local" not in out and "cached  " in out and str(hub.hf_home) in out


def test_catalog_is_validated_on_read(hub):
    hub.catalog.write_text(hub.catalog.read_text().replace("avatars: []", "avatars:\n  - id: x-v1\n    repo: a/b\n"))
    with pytest.raises(CatalogError, match=r"catalog\.yaml:\d+: avatars\[0\]\.avatar: Field required"):
        avatarzoo.load("x-v1")
    result = cli("list")
    assert result.exit_code == 2 and "catalog.yaml" in result.output


# --- layering -------------------------------------------------------------------------------

def test_loading_a_local_bundle_imports_neither_the_build_machinery_nor_the_hub_client(bundle):
    code = (
        "import sys; from avatarzoo.runtime.resolve import open_bundle;"
        f" b = open_bundle({str(bundle)!r}); assert b.id == 'syn-v1';"
        " print(sorted(m for m in sys.modules if m.startswith(('avatarzoo.stages', 'huggingface_hub', 'torch'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("text, repo, rev", [
    ("hf-hub:alice/roman", "alice/roman", None),
    ("hf-hub:alice/roman@v2", "alice/roman", "v2"),
    ("alice/roman@v2", "alice/roman", "v2"),
    ("hf-hub:Org.x/r_1-b@" + "a" * 40, "Org.x/r_1-b", "a" * 40),
    ("hf-hub:alice/roman@release/2", "alice/roman", "release/2"),
])
def test_hub_names_parse(text, repo, rev):
    from avatarzoo.hub.names import looks_like_hub_name, parse_hub_name

    assert looks_like_hub_name(text)
    name = parse_hub_name(text)
    assert (name.repo, name.revision) == (repo, rev)
    assert name.pinned == (rev == "a" * 40)


@pytest.mark.parametrize("bad", ["hf-hub:alice", "hf-hub:a/b/c", "hf-hub:a/b@", "hf-hub:a--b/c",
                                 "hf-hub:a/b@../x", "hf-hub:a/b@v 1", "hf-hub:../b"])
def test_malformed_hub_names_are_refused(bad):
    from avatarzoo.hub.names import parse_hub_name

    with pytest.raises(NotFoundError, match=rf"^'{__import__('re').escape(bad)}': "):
        parse_hub_name(bad)


def test_cli_help_lists_push_and_pull():
    out = cli("--help").output
    assert "push" in out and "pull" in out


def test_pull_of_an_id_that_is_not_catalogued_says_so(hub, bundle):
    publish(hub, bundle, "alice/pullid")
    result = cli("pull", "syn-v2")
    assert result.exit_code == 2
    assert "'syn-v2' is not in the zoo catalog" in result.output and "(did you mean 'syn-v1'?)" in result.output


def test_list_reports_a_broken_local_bundle_and_goes_on(hub, bundle):
    publish(hub, bundle, "alice/broken")
    (hub.store.path("syn-v1") / "evil.pkl").write_bytes(b"x")
    result = cli("list")
    assert result.exit_code == 0
    assert "syn-v1                   local     broken: " in result.output and "evil.pkl: unexpected file" in result.output
    assert "syn-v1                   catalog   alice/broken@v1" in result.output
