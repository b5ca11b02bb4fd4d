"""Test doubles for the resolver's own tests: tiny stage functions that record what
they read, so caching, keys, locking and resume can be checked in milliseconds.
They stand in for nothing in the product (the real stages are tested elsewhere)."""

import hashlib
import json
import os

CALLS: list[str] = []


def _digest(ctx) -> str:
    h = hashlib.sha256()
    for name in sorted(ctx.inputs):
        h.update((ctx.inputs[name] / "out.txt").read_bytes())
    return h.hexdigest()


def simple(ctx):
    CALLS.append(ctx.out.name.split("-")[0])
    (ctx.out / "out.txt").write_text(_digest(ctx) + ctx.recipe.model_dump_json())


def resumable(ctx):
    """10 'training steps', a checkpoint after each; dies once at step 5 if asked."""
    CALLS.append("fit_renderer")
    ckpt = ctx.scratch / "ckpt.json"
    state = json.loads(ckpt.read_text()) if ckpt.exists() else {"step": 0, "value": 1}
    for step in range(state["step"], 10):
        if step == 5 and os.environ.pop("KILL_AT_5", None):
            raise KeyboardInterrupt
        state = {"step": step + 1, "value": (state["value"] * 31 + step) % 1000003}
        ckpt.write_text(json.dumps(state))
    (ctx.out / "out.txt").write_text(f"{_digest(ctx)} {state['value']}")


def marks_beside(ctx):
    """Writes its pid to $BESIDE_DIR/driver.pid, then its output."""
    from pathlib import Path

    (Path(os.environ["BESIDE_DIR"]) / "driver.pid").write_text(str(os.getpid()))
    simple(ctx)


def waits_for_beside(ctx):
    """Like `resumable`, but first waits (≤ 60 s, when $BESIDE_WAIT is set) for the
    stage beside it to have started, and records whether it had."""
    import time
    from pathlib import Path

    mark = Path(os.environ["BESIDE_DIR"]) / "driver.pid"
    deadline = time.monotonic() + (60 if os.environ.get("BESIDE_WAIT") else 0)
    while not mark.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    (Path(os.environ["BESIDE_DIR"]) / "renderer_saw").write_text(str(mark.exists()))
    resumable(ctx)
