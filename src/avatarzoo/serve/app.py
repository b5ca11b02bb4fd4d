"""The ASGI app of `avatarzoo serve` (Starlette; uvicorn with `websockets` runs it).

Routes: `GET /` the page (static/index.html), `GET /static/...` its files, `GET /health`,
`GET /avatars`, `WS /ws` the live protocol (protocol.py). Avatars are loaded once and
shared by every session through one batched renderer each (batch.py).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from avatarzoo.serve.batch import SharedRenderer
from avatarzoo.serve.protocol import PROTOCOL
from avatarzoo.serve.sessions import Limits, SessionManager

STATIC = Path(__file__).resolve().parent / "static"
log = logging.getLogger("avatarzoo.serve")


def create_app(avatars: Iterable, *, limits: Limits | None = None, workers: int | None = None,
               max_batch: int = 16) -> Starlette:
    """An app serving `avatars` (loaded `Avatar`s; the first is the default)."""
    renderers = {}
    for a in avatars:
        renderers[a.id] = SharedRenderer(a, max_batch=max_batch)
    if not renderers:
        raise ValueError("create_app: no avatar to serve")
    manager = SessionManager(renderers, limits or Limits(), workers=workers)

    async def page(request):
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def health(request):
        return JSONResponse(manager.health() | {"protocol": PROTOCOL})

    async def avatar_list(request):
        return JSONResponse([{"id": r.id, "fps": r.fps, "size": r.size} for r in renderers.values()])

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        manager.shutdown()
        for r in renderers.values():
            r.close()

    app = Starlette(routes=[
        Route("/", page),
        Route("/health", health),
        Route("/avatars", avatar_list),
        WebSocketRoute("/ws", manager.handle),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ], lifespan=lifespan)
    app.state.manager = manager
    return app


def serve(names: Sequence[str], *, host: str = "127.0.0.1", port: int = 8000, device: str = "cpu",
          store=None, limits: Limits | None = None, workers: int | None = None, torch_threads: int | None = 1,
          max_batch: int = 16, log_level: str = "info") -> None:
    """Load `names` (ids, directories or Hub names; all of the local store when empty)
    once, then run the app under uvicorn until interrupted."""
    import uvicorn

    from avatarzoo.errors import AvatarZooError
    from avatarzoo.runtime.avatar import Avatar
    from avatarzoo.runtime.resolve import open_bundle

    if torch_threads:
        import torch

        torch.set_num_threads(torch_threads)  # several sessions' threads share the cores; more oversubscribes them
    if not names:
        names = store.ids() if store is not None else []
        if not names:
            raise AvatarZooError("no avatar to serve: the local store is empty; build one "
                                 "(`avatarzoo build recipes/demo-v1.yaml`) or name a directory or Hub name")
    avatars = []
    for name in names:
        avatar = Avatar(open_bundle(name, store=store), device=device)
        avatar.driver  # an avatar without an audio driver cannot go live: say so now, not per session
        avatars.append(avatar)
    limits = limits or Limits()
    app = create_app(avatars, limits=limits, workers=workers, max_batch=max_batch)
    # uvicorn refuses (1009) what is far over the limit before buffering it; the app refuses
    # (4413, with a reason) what is over it by less
    uvicorn.run(app, host=host, port=port, ws="websockets-sansio", ws_max_size=2 * limits.max_message_bytes,
                log_level=log_level, timeout_graceful_shutdown=5)
