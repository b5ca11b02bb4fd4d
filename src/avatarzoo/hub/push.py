"""Push a bundle to the Hub: one commit, a `v{version}` tag, an entry in the catalog.

1. The bundle is read and verified (nothing corrupt is published).
2. The repo is created if needed (`--private` then applies); the tag `v{version}` must
   not exist yet, unless it already holds this very bundle (then the push only records
   it: a push interrupted after tagging can be finished by pushing again).
3. One commit with exactly the manifest's files (`create_commit`), on `main` or the
   given branch (created from `main` if missing), then the tag on that commit.
4. The tag is resolved back through the Hub to its 40-hex revision, and the entry (id,
   repo, tag, revision, sha256 and size of model.safetensors, licence, card) goes into
   `zoo/catalog.yaml`, the card into `cards/<id>.md`.

Against a Hub-compatible server that does not speak Xet (a self-hosted mirror or
test server), set HF_HUB_DISABLE_XET=1: huggingface_hub 2.x uploads through Xet
whenever hf-xet is installed.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from pathlib import Path

from avatarzoo.bundle.card import read_front_matter
from avatarzoo.bundle.format import MANIFEST_FILE, MODEL_FILE
from avatarzoo.bundle.io import Bundle
from avatarzoo.catalog import CatalogEntry
from avatarzoo.errors import CatalogError, HubError
from avatarzoo.hub.catalog import CATALOG, read_catalog, record, zoo_root
from avatarzoo.hub.env import HubEnv, hub_env
from avatarzoo.hub.names import check_repo, check_revision

_ID = re.compile(r"^(?P<avatar>[a-z0-9][a-z0-9-]*)-v(?P<version>[0-9]+)$")


@contextmanager
def _push_errors(what: str, repo: str, env: HubEnv):
    import httpx2
    from huggingface_hub import errors as hf

    try:
        yield
    except (hf.RepositoryNotFoundError, hf.GatedRepoError) as e:
        raise HubError(f"{env.endpoint} does not let you write to {repo} (HTTP {e.response.status_code}):"
                       " set HF_TOKEN to a token with write access to it") from None
    except hf.HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else "?"
        if status in (401, 403):
            raise HubError(f"{env.endpoint} does not let you write to {repo} (HTTP {status}):"
                           " set HF_TOKEN to a token with write access to it") from None
        msg = (e.server_message or str(e)).strip().splitlines()[0]
        raise HubError(f"{env.endpoint}: HTTP {status} while pushing {what} to {repo}: {msg}") from None
    except (OSError, httpx2.HTTPError) as e:
        first = (str(e).strip().splitlines() or [""])[0]
        raise HubError(f"cannot push {what} to {repo} at {env.endpoint} ({type(e).__name__}: {first});"
                       " check the network and HF_ENDPOINT") from None
    except ValueError as e:  # e.g. huggingface_hub's check of the card's metadata
        first = (str(e).strip().splitlines() or [""])[0]
        raise HubError(f"{env.endpoint} refused {what} for {repo}: {first}") from None


def _license(bundle: Bundle) -> str:
    lic = read_front_matter(bundle.card).get("license")
    if not lic:
        lic = ((bundle.config.get("recipe") or {}).get("card") or {}).get("license")
    if not lic:
        raise CatalogError(f"{bundle.path / 'README.md'}: the card names no license; set `card.license`"
                           " in the recipe and build again")
    return str(lic)


def push(bundle: Bundle, *, repo: str, private: bool = False, branch: str | None = None,
         zoo: Path | None = None, env: HubEnv | None = None) -> tuple[CatalogEntry, Path]:
    """Publish the (already verified) `bundle` to `repo`; returns the catalog entry and
    the catalog file it was recorded in."""
    from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download

    env = env or hub_env()
    check_repo(repo, repo)
    if branch is not None:
        check_revision(branch, branch)
    if env.offline:
        raise HubError("HF_HUB_OFFLINE=1 is set: pushing needs the Hub; unset HF_HUB_OFFLINE")
    m = _ID.match(bundle.id)
    if m is None:
        raise CatalogError(f"{bundle.path}: id '{bundle.id}' is not '<avatar>-v<version>'")
    avatar, version = m["avatar"], int(m["version"])
    root = zoo if zoo is not None else zoo_root()
    if root is None:
        raise CatalogError("no zoo to record the push in: pass --zoo DIR (the directory holding zoo/"
                           " and cards/) or set AVATARZOO_ZOO")
    existing = read_catalog(Path(root) / CATALOG).get(bundle.id)
    if existing is not None and existing.repo != repo:
        raise CatalogError(f"{Path(root) / CATALOG}: {bundle.id} is already published as"
                           f" {existing.repo}@{existing.tag}; versions are immutable: raise `version`"
                           " in the recipe and build again")
    license_ = _license(bundle)
    tag = f"v{version}"
    files = sorted([*bundle.manifest["files"], MANIFEST_FILE])
    api = HfApi(endpoint=env.endpoint)
    with _push_errors(bundle.id, repo, env):
        api.create_repo(repo, private=private, exist_ok=True)
        refs = api.list_repo_refs(repo)
        tags = {t.name: t.target_commit for t in refs.tags}
        if tag in tags:
            commit = tags[tag]
            remote = Path(hf_hub_download(repo, MANIFEST_FILE, revision=commit, cache_dir=env.cache_dir,
                                          endpoint=env.endpoint))
            if json.loads(remote.read_text()).get("files") != bundle.manifest["files"]:
                raise HubError(f"{repo} already has tag {tag} (revision {commit[:12]}) holding a different"
                               " bundle; versions are immutable: raise `version` in the recipe and build again")
        else:
            if branch is not None and branch not in {b.name for b in refs.branches}:
                api.create_branch(repo, branch=branch)
            ops = [CommitOperationAdd(path_in_repo=n, path_or_fileobj=str(bundle.path / n)) for n in files]
            info = api.create_commit(
                repo, ops, revision=branch,
                commit_message=f"{bundle.id}: avatarzoo bundle, version {version}",
                commit_description=f"Pushed by `avatarzoo push`; model.safetensors sha256"
                                   f" {bundle.manifest['files'][MODEL_FILE]['sha256']}.",
            )
            commit = info.oid
            api.create_tag(repo, tag=tag, revision=commit, tag_message=f"{bundle.id}")
        resolved = api.model_info(repo, revision=tag).sha
    if resolved != commit:
        raise HubError(f"{repo}: tag {tag} resolves to {resolved} on {env.endpoint}, not to the pushed"
                       f" commit {commit}; check the repo's tags")
    model = bundle.manifest["files"][MODEL_FILE]
    entry = CatalogEntry(
        id=bundle.id, avatar=avatar, version=version, repo=repo, tag=tag, revision=resolved,
        sha256=model["sha256"], size=model["size"], license=license_, card=f"cards/{bundle.id}.md",
    )
    return entry, record(Path(root), entry, bundle.card)
