"""The house holds: no import cycles inside avatarzoo, and none of the layers'
"never" rules in docs/whiteboard.json broken (parts = files and folders; a never A → B
is broken when a file of A imports a file of B, directly or through files on no part).
The import graph is the one the stage keys use (stages/code.py): every import, in
functions too, except `if TYPE_CHECKING:` ones."""

from __future__ import annotations

import json
from pathlib import Path

from avatarzoo.stages import code

ROOT = Path(__file__).resolve().parent.parent
WHITEBOARD = ROOT / "docs" / "whiteboard.json"


def _files() -> dict[str, str]:
    """Module name -> its path from the repository root ('src/avatarzoo/...')."""
    return {name: info.path.relative_to(ROOT).as_posix() for name, info in code.import_graph().items()}


def _part_of(path: str, parts: dict[str, list[str]]) -> str | None:
    best, length = None, -1
    for name, prefixes in parts.items():
        for p in prefixes:
            if (path == p or (p.endswith("/") and path.startswith(p))) and len(p) > length:
                best, length = name, len(p)
    return best


def test_no_import_cycles():
    assert code.cycles() == [], "import cycles (each a set of modules that import each other)"


def test_the_whiteboard_names_only_files_that_exist():
    board = json.loads(WHITEBOARD.read_text())
    for name, part in board["parts"].items():
        for p in part["is"]:
            assert (ROOT / p).exists(), f"part {name}: {p} does not exist"


def test_no_never_of_the_whiteboard_is_broken():
    board = json.loads(WHITEBOARD.read_text())
    parts = {name: part["is"] for name, part in board["parts"].items()}
    graph = code.import_graph()
    files = _files()
    part = {name: _part_of(path, parts) for name, path in files.items()}
    broken = []
    for a, b, why in board["never"]:
        for start in (m for m in graph if part[m] == a):
            seen, todo = set(), [(start, [start])]
            while todo:
                m, route = todo.pop()
                for n in graph[m].imports:
                    if n in seen:
                        continue
                    seen.add(n)
                    if part[n] == b:
                        broken.append(f"{a} -> {b} ({why}): {' -> '.join(files[x] for x in route + [n])}")
                    elif part[n] is None:  # files on no part are passed through
                        todo.append((n, route + [n]))
    assert not broken, "\n".join(broken)


def test_every_module_is_on_a_part():
    """A new room must be drawn on the whiteboard before its nevers can hold."""
    parts = {name: part["is"] for name, part in json.loads(WHITEBOARD.read_text())["parts"].items()}
    loose = sorted(path for path in _files().values() if _part_of(path, parts) is None)
    assert not loose, f"files on no part of docs/whiteboard.json: {loose}"
