"""A Hugging Face Hub-compatible HTTP server for the tests (and benchmarks/hub_pull.py).

The smallest server the real `huggingface_hub` client (2.x) works against, over HTTP on
127.0.0.1, for both directions: repo creation, model info, the recursive tree, refs,
tags and branches, the resolve endpoint (HEAD + GET with ETag, X-Repo-Commit,
Content-Length / X-Linked-Size, X-Error-Code), and the upload path (preupload, the Git
LFS batch API with the basic transfer: PUT + verify, the NDJSON commit endpoint,
validate-yaml). No Xet: set HF_HUB_DISABLE_XET=1 for clients of it. What it does not
know answers 404 and is recorded in `unknown`, so a test sees a client talking past it.

State: repos, commits and refs in memory; file bytes on disk under `root` (LFS objects
by sha256, regular files by git oid). Every request is counted (`requests`), so a test
can assert that nothing was asked. `token`: writes need `Authorization: Bearer <token>`;
private repos need it for reads too (401 RepoNotFound, as the Hub answers).

Run standalone (the benchmark does, so that server and client do not share a GIL):
`python tests/hub_server.py ROOT --port-file FILE`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".pkl", ".npy", ".npz", ".png", ".jpg",
                ".mp4", ".onnx", ".h5", ".zip", ".gz", ".tar")
LFS_THRESHOLD = 10 * 1024 * 1024  # the Hub puts files ≥ 10 MB in LFS whatever their name
GITATTRIBUTES = "".join(f"*{s} filter=lfs diff=lfs merge=lfs -text\n" for s in LFS_SUFFIXES).encode()


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Entry:
    size: int
    oid: str  # git blob oid (of the content, or of the LFS pointer)
    blob: Path  # where the bytes are
    sha256: str | None = None  # LFS files only


@dataclass
class Commit:
    oid: str
    parent: str | None
    files: dict[str, Entry]
    message: str
    date: str


@dataclass
class Repo:
    id: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def resolve(self, rev: str) -> Commit | None:
        rev = unquote(rev)
        oid = self.branches.get(rev) or self.tags.get(rev) or (rev if rev in self.commits else None)
        return self.commits.get(oid) if oid else None


def _error(status: int, code: str | None, message: str, headers: dict | None = None) -> JSONResponse:
    h = {"X-Error-Message": message, **(headers or {})}
    if code:
        h["X-Error-Code"] = code
    return JSONResponse({"error": message}, status_code=status, headers=h)


class HubServer:
    def __init__(self, root: Path, *, token: str | None = None):
        self.root = Path(root)
        (self.root / "lfs").mkdir(parents=True, exist_ok=True)
        (self.root / "git").mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self.unknown: list[tuple[str, str]] = []
        self._pending: dict[str, int] = {}  # LFS oids the batch endpoint allowed to PUT → size
        self._lock = threading.Lock()
        self._n = 0
        self.base = ""  # set by start()
        self._server = None
        self._thread = None
        self.app = self._make_app()

    # --- what tests use --------------------------------------------------------------

    def count(self) -> int:
        return len(self.requests)

    def requests_since(self, n: int) -> list[tuple[str, str]]:
        return self.requests[n:]

    def file(self, repo: str, rev: str, path: str) -> Entry:
        return self.repos[repo].resolve(rev).files[path]

    def tamper(self, repo: str, rev: str, path: str, offset: int) -> None:
        """Flip one byte of a file as the server stores it, keeping its ETag, size and
        oid (a bad disk or a compromised server): a fresh copy, other repos untouched."""
        entry = self.file(repo, rev, path)
        data = bytearray(entry.blob.read_bytes())
        data[offset] ^= 0x01
        entry.blob = self._store_tmp(bytes(data))

    def replace(self, repo: str, rev: str, files: dict[str, bytes]) -> None:
        """Swap file contents inside an existing commit, with consistent ETags and sizes
        (a repo rewritten under its pinned revision)."""
        commit = self.repos[repo].resolve(rev)
        for path, data in files.items():
            commit.files[path] = self._entry(path, data)

    # --- storage ---------------------------------------------------------------------

    def _store_tmp(self, data: bytes) -> Path:
        fd, name = tempfile.mkstemp(dir=self.root / "tmp")
        with open(fd, "wb") as f:
            f.write(data)
        return Path(name)

    def _entry(self, path: str, data: bytes) -> Entry:
        if self._is_lfs(path, len(data), data[:512]):
            sha = hashlib.sha256(data).hexdigest()
            blob = self.root / "lfs" / sha
            blob.write_bytes(data)
            pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {len(data)}\n"
            return Entry(len(data), git_oid(pointer.encode()), blob, sha)
        oid = git_oid(data)
        blob = self.root / "git" / oid
        blob.write_bytes(data)
        return Entry(len(data), oid, blob)

    @staticmethod
    def _is_lfs(path: str, size: int, sample: bytes) -> bool:
        return path.endswith(LFS_SUFFIXES) or size >= LFS_THRESHOLD or b"\0" in sample

    def _new_commit(self, repo: Repo, parent: str | None, files: dict[str, Entry], message: str) -> Commit:
        with self._lock:
            self._n += 1
            n = self._n
        h = hashlib.sha1(f"{repo.id}\n{parent}\n{message}\n{n}".encode())
        for p in sorted(files):
            h.update(f"{p}\0{files[p].oid}\n".encode())
        c = Commit(h.hexdigest(), parent, files, message, datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        repo.commits[c.oid] = c
        return c

    # --- HTTP ------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        return self.token is None or request.headers.get("authorization") == f"Bearer {self.token}"

    def _repo(self, request: Request, *, write: bool = False) -> Repo | Response:
        p = request.path_params
        repo_id = f"{p['ns']}/{p['name']}"
        repo = self.repos.get(repo_id)
        if write and not self._authorized(request):
            return _error(401, "RepoNotFound", "Invalid credentials in Authorization header")
        if repo is None or (repo.private and not self._authorized(request)):
            return _error(401 if not self._authorized(request) else 404, "RepoNotFound",
                          "Repository not found")
        return repo

    def _commit(self, repo: Repo, rev: str) -> Commit | Response:
        c = repo.resolve(rev)
        if c is None:
            return _error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return c

    def _make_app(self) -> Starlette:
        srv = self

        async def create_repo(request: Request):
            if not srv._authorized(request):
                return _error(401, None, "Invalid credentials in Authorization header")
            body = await request.json()
            if body.get("type", "model") != "model":
                return _error(400, None, "this test server serves model repos only")
            repo_id = f"{body.get('organization')}/{body['name']}"
            url = f"{srv.base}/{repo_id}"
            if repo_id in srv.repos:
                return JSONResponse({"error": "You already created this model repo", "url": url}, status_code=409)
            repo = Repo(repo_id, private=body.get("visibility") == "private" or bool(body.get("private")))
            init = srv._new_commit(repo, None, {".gitattributes": srv._entry(".gitattributes", GITATTRIBUTES)},
                                   "initial commit")
            repo.branches["main"] = init.oid
            srv.repos[repo_id] = repo
            return JSONResponse({"url": url, "name": repo_id})

        async def model_info(request: Request):
            repo = srv._repo(request)
            if isinstance(repo, Response):
                return repo
            c = srv._commit(repo, request.path_params.get("rev", "main"))
            if isinstance(c, Response):
                return c
            return JSONResponse({
                "id": repo.id, "modelId": repo.id, "sha": c.oid, "private": repo.private,
                "lastModified": c.date, "tags": [], "library_name": None,
                "siblings": [{"rfilename": p} for p in sorted(c.files)],
            })

        async def tree(request: Request):
            repo = srv._repo(request)
            if isinstance(repo, Response):
                return repo
            c = srv._commit(repo, request.path_params["rev"])
            if isinstance(c, Response):
                return c
            prefix = request.path_params.get("path", "").strip("/")
            out, dirs = [], set()
            for p, e in sorted(c.files.items()):
                if prefix and not p.startswith(prefix + "/"):
                    continue
                rel = p[len(prefix) + 1:] if prefix else p
                parts = rel.split("/")
                if len(parts) > 1 and request.query_params.get("recursive") not in ("true", "True", "1"):
                    dirs.add(parts[0])
                    continue
                for i in range(1, len(parts)):
                    dirs.add("/".join(parts[:i]))
                item = {"type": "file", "oid": e.oid, "size": e.size, "path": p}
                if e.sha256:
                    item["lfs"] = {"oid": e.sha256, "size": e.size, "pointerSize": 134}
                out.append(item)
            out += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": f"{prefix}/{d}" if prefix else d}
                    for d in sorted(dirs)]
            return JSONResponse(out)

        async def refs(request: Request):
            repo = srv._repo(request)
            if isinstance(repo, Response):
                return repo

            def ref(kind, name, oid):
                return {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": oid}

            return JSONResponse({
                "branches": [ref("heads", n, o) for n, o in sorted(repo.branches.items())],
                "tags": [ref("tags", n, o) for n, o in sorted(repo.tags.items())],
                "converts": [], "pullRequests": [],
            })

        async def resolve(request: Request):
            repo = srv._repo(request)
            if isinstance(repo, Response):
                return repo
            c = srv._commit(repo, request.path_params["rev"])
            if isinstance(c, Response):
                return c
            path = request.path_params["path"]
            e = c.files.get(path)
            if e is None:
                return _error(404, "EntryNotFound", f"{path} does not exist on {c.oid}",
                              {"X-Repo-Commit": c.oid})
            etag = f'"{e.sha256 or e.oid}"'
            headers = {"ETag": etag, "X-Repo-Commit": c.oid, "Accept-Ranges": "bytes"}
            if e.sha256:
                headers["X-Linked-Size"] = str(e.size)
                headers["X-Linked-ETag"] = etag
            if request.method == "HEAD":
                headers["Content-Length"] = str(e.blob.stat().st_size)
                return Response(status_code=200, headers=headers)
            return FileResponse(e.blob, headers=headers, media_type="application/octet-stream")

        async def preupload(request: Request):
            repo = srv._repo(request, write=True)
            if isinstance(repo, Response):
                return repo
            c = srv._commit(repo, request.path_params["rev"])
            if isinstance(c, Response):
                return c
            body = await request.json()
            out = []
            for f in body["files"]:
                sample = base64.b64decode(f.get("sample", ""))
                lfs = srv._is_lfs(f["path"], int(f["size"]), sample)
                old = c.files.get(f["path"])
                out.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular",
                            "shouldIgnore": False,
                            "oid": None if old is None else (old.sha256 if lfs else old.oid)})
            return JSONResponse({"files": out, "commitOid": c.oid})

        async def lfs_batch(request: Request):
            repo = srv._repo(request, write=True)
            if isinstance(repo, Response):
                return repo
            body = json.loads(await request.body())
            if body.get("operation") != "upload":
                return _error(400, None, "this test server implements LFS uploads only")
            objects = []
            for o in body["objects"]:
                item = {"oid": o["oid"], "size": o["size"], "authenticated": True}
                if not (srv.root / "lfs" / o["oid"]).is_file():
                    srv._pending[o["oid"]] = int(o["size"])
                    item["actions"] = {"upload": {"href": f"{srv.base}/_lfs/{o['oid']}"},
                                       "verify": {"href": f"{srv.base}/_lfs/verify"}}
                objects.append(item)
            return JSONResponse({"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
                                media_type="application/vnd.git-lfs+json")

        async def lfs_put(request: Request):
            oid = request.path_params["oid"]
            if oid not in srv._pending:
                return _error(403, None, "no upload was granted for this object")
            h = hashlib.sha256()
            fd, tmp = tempfile.mkstemp(dir=srv.root / "tmp")
            size = 0
            with open(fd, "wb") as f:
                async for chunk in request.stream():
                    h.update(chunk)
                    f.write(chunk)
                    size += len(chunk)
            if h.hexdigest() != oid or size != srv._pending[oid]:
                Path(tmp).unlink()
                return _error(400, None, f"object does not match its oid/size ({size} bytes)")
            Path(tmp).replace(srv.root / "lfs" / oid)
            del srv._pending[oid]
            return Response(status_code=200, headers={"ETag": f'"{oid}"'})

        async def lfs_verify(request: Request):
            body = await request.json()
            f = srv.root / "lfs" / body["oid"]
            if not f.is_file() or f.stat().st_size != body["size"]:
                return _error(404, None, "object not found")
            return JSONResponse({"ok": True})

        async def commit(request: Request):
            repo = srv._repo(request, write=True)
            if isinstance(repo, Response):
                return repo
            branch = unquote(request.path_params["rev"])
            if branch not in repo.branches:
                return _error(404, "RevisionNotFound", f"Invalid rev id: {branch} (commits go to a branch)")
            head = repo.commits[repo.branches[branch]]
            lines = [json.loads(x) for x in (await request.body()).splitlines() if x.strip()]
            if not lines or lines[0].get("key") != "header":
                return _error(400, None, "the first NDJSON line must be the header")
            header = lines[0]["value"]
            if header.get("parentCommit") and header["parentCommit"] != head.oid:
                return _error(412, None, "A commit has happened since; parentCommit is stale")
            files = dict(head.files)
            for line in lines[1:]:
                key, v = line["key"], line["value"]
                path = v["path"]
                if path.startswith("/") or ".." in path.split("/"):
                    return _error(400, None, f"invalid path {path}")
                if key == "file":
                    files[path] = srv._entry(path, base64.b64decode(v["content"]))
                elif key == "lfsFile":
                    blob = srv.root / "lfs" / v["oid"]
                    if not blob.is_file():
                        return _error(422, None, f"LFS object {v['oid']} was never uploaded")
                    size = blob.stat().st_size
                    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{v['oid']}\nsize {size}\n"
                    files[path] = Entry(size, git_oid(pointer.encode()), blob, v["oid"])
                elif key == "deletedFile":
                    files.pop(path, None)
                elif key == "deletedFolder":
                    files = {p: e for p, e in files.items() if not p.startswith(path.rstrip("/") + "/")}
                else:
                    return _error(400, None, f"unknown commit operation {key}")
            c = srv._new_commit(repo, head.oid, files, header.get("summary", ""))
            repo.branches[branch] = c.oid
            return JSONResponse({"success": True, "commitOid": c.oid,
                                 "commitUrl": f"{srv.base}/{repo.id}/commit/{c.oid}", "pullRequestUrl": None})

        async def tag(request: Request):
            repo = srv._repo(request, write=True)
            if isinstance(repo, Response):
                return repo
            c = srv._commit(repo, request.path_params["rev"])
            if isinstance(c, Response):
                return c
            name = (await request.json())["tag"]
            if name in repo.tags:
                return _error(409, None, f"Tag {name} already exists")
            repo.tags[name] = c.oid
            return JSONResponse({"ref": f"refs/tags/{name}"})

        async def branch(request: Request):
            repo = srv._repo(request, write=True)
            if isinstance(repo, Response):
                return repo
            name = unquote(request.path_params["branch"])
            body = json.loads(await request.body() or b"{}")
            c = srv._commit(repo, body.get("startingPoint") or "main")
            if isinstance(c, Response):
                return c
            if name in repo.branches:
                return _error(409, None, f"Branch {name} already exists")
            repo.branches[name] = c.oid
            return JSONResponse({"ref": f"refs/heads/{name}"})

        async def validate_yaml(request: Request):
            content = (await request.json()).get("content", "")
            if content.startswith("---\n"):
                try:
                    meta = yaml.safe_load(content[4:content.find("\n---", 4)])
                except yaml.YAMLError as e:
                    return JSONResponse({"errors": [{"message": f"invalid YAML: {e}"}]}, status_code=400)
                if meta is not None and not isinstance(meta, dict):
                    return JSONResponse({"errors": [{"message": "metadata must be a mapping"}]}, status_code=400)
            return JSONResponse({"errors": [], "warnings": []})

        async def unknown(request: Request):
            srv.unknown.append((request.method, request.url.path))
            return _error(404, None, f"unknown endpoint {request.method} {request.url.path}")

        repo = "/{ns}/{name}"
        api = "/api/models" + repo
        routes = [
            Route("/api/repos/create", create_repo, methods=["POST"]),
            Route("/api/validate-yaml", validate_yaml, methods=["POST"]),
            Route(api, model_info, methods=["GET"]),
            Route(api + "/revision/{rev}", model_info, methods=["GET"]),
            Route(api + "/tree/{rev}", tree, methods=["GET"]),
            Route(api + "/tree/{rev}/{path:path}", tree, methods=["GET"]),
            Route(api + "/refs", refs, methods=["GET"]),
            Route(api + "/preupload/{rev}", preupload, methods=["POST"]),
            Route(api + "/commit/{rev}", commit, methods=["POST"]),
            Route(api + "/tag/{rev}", tag, methods=["POST"]),
            Route(api + "/branch/{branch}", branch, methods=["POST"]),
            Route("/_lfs/verify", lfs_verify, methods=["POST"]),
            Route("/_lfs/{oid}", lfs_put, methods=["PUT"]),
            Route("/{ns}/{name}.git/info/lfs/objects/batch", lfs_batch, methods=["POST"]),
            Route(repo + "/resolve/{rev}/{path:path}", resolve, methods=["GET", "HEAD"]),
            Route("/{rest:path}", unknown, methods=["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]),
        ]
        app = Starlette(routes=routes)

        async def counted(scope, receive, send):
            if scope["type"] == "http":
                srv.requests.append((scope["method"], scope["path"]))
            await app(scope, receive, send)

        return counted

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> "HubServer":
        """Serve on 127.0.0.1, an ephemeral port, in a thread."""
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        started = threading.Event()
        for _ in range(1000):  # up to 10 s for the loop to start; a bound, not a timing assertion
            if self._server.started:
                started.set()
                break
            started.wait(0.01)
        if not started.is_set():
            raise RuntimeError("the test Hub server did not start")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)


def main() -> None:  # standalone: python tests/hub_server.py ROOT --port-file FILE [--token T]
    import argparse

    import uvicorn

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--port-file", type=Path, required=True)
    ap.add_argument("--token", default=None)
    args = ap.parse_args()
    srv = HubServer(args.root, token=args.token)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    srv.base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    args.port_file.write_text(srv.base)
    uvicorn.Server(uvicorn.Config(srv.app, log_level="warning", lifespan="off", access_log=False)).run(
        sockets=[sock])


if __name__ == "__main__":
    main()
