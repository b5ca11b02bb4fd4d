"""Pull a bundle from the Hub into huggingface_hub's cache, and prove it is the one that
was published.

1. `manifest.json` alone, at the revision (a tag or branch is resolved to its commit).
2. The manifest is checked as untrusted input (names, sizes, sha256s), against the
   catalog entry when there is one (model sha256 and size), and against the sizes the
   Hub lists for the commit — before any large file is fetched.
3. Exactly the files the manifest lists (allow patterns; nothing else in the repo).
4. `read_bundle(verify=True)` on the snapshot: every file against the manifest, the
   safetensors header against the model file.

A pinned revision that is in the cache is read with no request at all, online or
offline (huggingface_hub skips the network for a commit it has the tree of); with
`HF_HUB_OFFLINE=1` nothing is ever requested and a missing bundle is one message
saying what to pull.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from avatarzoo.bundle.format import MANIFEST_FILE, MODEL_FILE
from avatarzoo.bundle.io import Bundle, plain_file, read_bundle, read_manifest
from avatarzoo.catalog import CatalogEntry
from avatarzoo.errors import BundleError, HubError, NotFoundError
from avatarzoo.hub.env import HubEnv, hub_env
from avatarzoo.hub.names import HubName


def _what(name: HubName, entry: CatalogEntry | None) -> str:
    if entry is not None:
        return f"{entry.id} (zoo catalog: {entry.repo}@{entry.tag}, revision {entry.revision[:12]})"
    return str(name)


def _not_cached(name: HubName, entry: CatalogEntry | None, env: HubEnv) -> NotFoundError:
    return NotFoundError(
        f"{_what(name, entry)} is not in the Hugging Face cache {env.cache_dir} and HF_HUB_OFFLINE=1"
        f" forbids downloading it: run `avatarzoo pull {entry.id if entry else name}` while online"
    )


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".strip()


@contextmanager
def _hub_errors(name: HubName, entry: CatalogEntry | None, env: HubEnv):
    """huggingface_hub's errors as one-line AvatarZooErrors that say what to do."""
    import httpx2
    from huggingface_hub import errors as hf

    what = _what(name, entry)
    try:
        yield
    except hf.OfflineModeIsEnabled:
        raise _not_cached(name, entry, env) from None
    except hf.LocalEntryNotFoundError as e:
        if env.offline:
            raise _not_cached(name, entry, env) from None
        raise HubError(
            f"cannot reach the Hub at {env.endpoint} to download {what} ({_one_line(e.__cause__ or e)});"
            " check the network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use cached avatars only"
        ) from None
    except hf.RepositoryNotFoundError:
        raise NotFoundError(
            f"no repo {name.repo} on {env.endpoint} (or it is private and HF_TOKEN does not give access"
            f" to it); check the name, or set HF_TOKEN"
        ) from None
    except hf.RevisionNotFoundError:
        raise NotFoundError(
            f"{name.repo} on {env.endpoint} has no revision '{name.revision}'; `avatarzoo push` tags"
            " versions v1, v2, ... (or give a branch or a 40-hex commit)"
        ) from None
    except hf.HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else "?"
        raise HubError(f"{env.endpoint}: HTTP {status} while downloading {what}: "
                       f"{(e.server_message or str(e)).strip().splitlines()[0]}") from None
    except (OSError, httpx2.HTTPError) as e:
        raise HubError(f"downloading {what} from {env.endpoint} failed ({_one_line(e)}); pull again") from None


def _snapshot(name: HubName, revision: str, files: list[str], env: HubEnv) -> Path:
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(
        name.repo, revision=revision, allow_patterns=files, cache_dir=env.cache_dir,
        endpoint=env.endpoint, local_files_only=env.offline,
    ))


def _check_catalog(files: dict, entry: CatalogEntry, where: str) -> None:
    m = files[MODEL_FILE]
    if m["sha256"] != entry.sha256 or m["size"] != entry.size:
        raise BundleError(
            f"{where}: the published manifest gives {MODEL_FILE} sha256 {m['sha256']} ({m['size']} bytes)"
            f" but the zoo catalog pins {entry.id} to sha256 {entry.sha256} ({entry.size} bytes);"
            " refusing it (the repo changed under its pin, or the catalog entry is wrong)"
        )


def _check_tree(name: HubName, commit: str, files: dict, env: HubEnv, where: str) -> None:
    """Sizes the Hub lists for the commit (cached by step 1, no request) vs the manifest."""
    from huggingface_hub import get_cached_repo_tree
    from huggingface_hub.errors import CachedRepoTreeNotFoundError

    try:
        tree = {f.path: f.size for f in get_cached_repo_tree(name.repo, revision=commit, cache_dir=env.cache_dir)}
    except CachedRepoTreeNotFoundError:
        return  # a cache another tool filled: the files are verified after download instead
    for fname, e in sorted(files.items()):
        if fname not in tree:
            raise BundleError(f"{where}: manifest.json lists {fname}, which the repo does not hold;"
                              " the published bundle is incomplete")
        if tree[fname] != e["size"]:
            raise BundleError(f"{where}: {fname} is {tree[fname]} bytes in the repo but manifest.json says"
                              f" {e['size']}; refusing to download it")


def pull(name: HubName | None = None, *, entry: CatalogEntry | None = None,
         env: HubEnv | None = None) -> Bundle:
    """Download (or find in the Hub cache) the bundle `name` stands for and verify it.

    With a catalog `entry`, its repo and pinned revision are used (`name` may be None)
    and what arrives must
    match its sha256, size and id. Returns the verified bundle (its path is the snapshot
    in the Hub cache, whose files are links into the cache's blob store).
    """
    env = env or hub_env()
    if entry is not None:
        name = HubName(entry.repo, entry.revision)
    if name is None:
        raise ValueError("pull: give a Hub name or a catalog entry")
    with _hub_errors(name, entry, env):
        folder = _snapshot(name, name.revision or "main", [MANIFEST_FILE], env)
    commit = folder.name
    where = f"{name.repo}@{commit[:12]}"
    blobs = folder.parent.parent / "blobs"
    manifest_path = folder / MANIFEST_FILE
    if not (manifest_path.exists() or manifest_path.is_symlink()):
        if env.offline:
            raise _not_cached(name, entry, env)
        raise BundleError(f"{where} on {env.endpoint} has no manifest.json: not an avatarzoo bundle"
                          " (publish one with `avatarzoo push`)")
    files = read_manifest(plain_file(manifest_path, blobs))["files"]
    if entry is not None:
        _check_catalog(files, entry, where)
    _check_tree(name, commit, files, env, where)
    with _hub_errors(name, entry, env):
        _snapshot(name, commit, sorted([*files, MANIFEST_FILE]), env)
    try:
        bundle = read_bundle(folder, verify=True, links_within=blobs)
    except BundleError as e:
        raise BundleError(f"{e}; this download of {where} is not the published bundle: delete"
                          f" {folder.parent.parent} and pull again (if it recurs, the repo is corrupt)") from None
    if entry is not None and bundle.id != entry.id:
        raise BundleError(f"{where}: the bundle is '{bundle.id}', but the zoo catalog lists this repo"
                          f" and revision as '{entry.id}'; refusing it")
    return bundle


def cached_snapshot(repo: str, revision: str, env: HubEnv | None = None) -> Path | None:
    """The snapshot directory of `repo`@`revision` when the cache holds its whole bundle
    (every file its manifest lists), else None. Makes no request."""
    from huggingface_hub import try_to_load_from_cache

    env = env or hub_env()
    found = try_to_load_from_cache(repo, MANIFEST_FILE, cache_dir=env.cache_dir, revision=revision)
    if not isinstance(found, str):
        return None
    folder = Path(found).parent
    try:
        files = read_manifest(Path(found))["files"]
    except (BundleError, OSError):
        return None
    return folder if all((folder / n).exists() for n in files) else None
