"""A stage's code version: the modules it actually imports, and the packages that shape
its output.

`import_graph()` reads every module of the `avatarzoo` package as source (nothing is
imported): an edge A → B for each `import`/`from … import` of B in A, at module level
or inside a function (avatarzoo imports torch, cv2 and its own heavy modules lazily,
inside the functions that need them), and for `importlib.import_module("constant")`.
Imports under `if TYPE_CHECKING:` are types only and draw no edge. `closure(roots)` is
every avatarzoo module reachable from `roots`; `code_version(roots)` hashes their
sources together with the versions of the third-party distributions in `SHAPING` that
those modules import. So a change to `geometry.py` reruns the stages whose code reaches
it (track, fit_renderer, evaluate, …) and no other; a new mediapipe or torch reruns
the stages that import it.

Kinds are reached through the registry ("module:attr" strings, not imports), so the
stage graph names each stage's roots explicitly: the stage function's module plus the
modules of the kinds it looks up (stages/graph.py).
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PACKAGE = "avatarzoo"
PACKAGE_ROOT = Path(__file__).resolve().parent.parent

# Third-party top-level modules whose version can change what a stage writes, mapped to
# the distributions that provide them (opencv ships as several wheels: any of them).
SHAPING: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "numpy": ("numpy",),
    "mediapipe": ("mediapipe",),
    "cv2": ("opencv-python", "opencv-contrib-python", "opencv-python-headless"),
    "av": ("av",),
    "gsplat": ("gsplat",),
    "transformers": ("transformers",),
    "pocketsphinx": ("pocketsphinx",),
}


@dataclass(frozen=True)
class ModuleInfo:
    name: str  # dotted, e.g. "avatarzoo.geometry"
    path: Path
    imports: frozenset[str]  # avatarzoo modules it imports, anywhere in it
    toplevel: frozenset[str]  # those it imports at module level (run on its import)
    external: frozenset[str]  # top-level names of other packages it imports


def _module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported_names(tree: ast.Module, module: str, is_package: bool, *, toplevel: bool = False) -> set[str]:
    """Dotted names each import statement of `tree` may bring in (modules, or
    `module.attr` for `from module import attr`), skipping TYPE_CHECKING blocks;
    `toplevel`: only those outside functions (what runs when the module is imported)."""
    package = module if is_package else module.rpartition(".")[0]
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            out.add(stem)
            out.update(f"{stem}.{alias.name}" for alias in node.names if alias.name != "*")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args):
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                out.add(arg.value)
            elif isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
                out.add(str(arg.values[0].value).rstrip("."))  # f"mediapipe.solutions.{name}"
        if toplevel and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def _resolve(names: set[str], files: dict[str, Path]) -> tuple[set[str], set[str]]:
    """Split dotted names into the package's modules they name (the longest prefix that
    is a module) and the top-level names of other packages."""
    inside: set[str] = set()
    external: set[str] = set()
    for dotted in names:
        if dotted == PACKAGE or dotted.startswith(PACKAGE + "."):
            parts = dotted.split(".")
            for k in range(len(parts), 0, -1):
                if ".".join(parts[:k]) in files:
                    inside.add(".".join(parts[:k]))
                    break
        elif dotted:
            external.add(dotted.split(".")[0])
    return inside, external


@cache
def import_graph(root: Path = PACKAGE_ROOT) -> dict[str, ModuleInfo]:
    """Every module of the package under `root`, with what it imports."""
    files = {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, ModuleInfo] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_bytes(), filename=str(path))
        is_package = path.name == "__init__.py"
        inside, external = _resolve(_imported_names(tree, name, is_package), files)
        top, _ = _resolve(_imported_names(tree, name, is_package, toplevel=True), files)
        graph[name] = ModuleInfo(name, path, frozenset(inside - {name}), frozenset(top - {name}),
                                 frozenset(external))
    return graph


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:k]) for k in range(1, len(parts))]


def closure(roots: Iterable[str], root: Path = PACKAGE_ROOT) -> list[str]:
    """The avatarzoo modules reachable from `roots` (module names), sorted.

    Every import a reached module writes is followed, in functions too. Importing a
    module also runs its parent packages' `__init__`: those are in the closure, but of
    their imports only the module-level ones are followed (a parent's functions run only
    when called, and a stage that calls one imports it by name, which is followed)."""
    graph = import_graph(root)
    whole: set[str] = set()  # reached by a written import: every import followed
    parent_only: set[str] = set()  # reached as a parent package: module-level imports only
    todo = [(name, True) for name in roots]
    while todo:
        name, by_import = todo.pop()
        if name not in graph:
            raise KeyError(f"{name}: no such module under {root}")
        if name in whole or (not by_import and name in parent_only):
            continue
        (whole if by_import else parent_only).add(name)
        info = graph[name]
        todo.extend((m, True) for m in (info.imports if by_import else info.toplevel))
        todo.extend((p, False) for p in _parents(name) if p in graph)  # namespace packages: none
    seen = whole | parent_only
    return sorted(seen)


def _distribution_version(top: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for dist in SHAPING[top]:
        try:
            found.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            pass
    return ",".join(found) or "absent"


def _outside_root(name: str, files: dict[str, Path]) -> tuple[bytes, set[str], set[str]]:
    """A root module outside the package (a plugin's stage, a test double): its source,
    the package modules and the other top-level packages it imports."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        raise KeyError(f"{name}: no Python source to hash")
    source = Path(spec.origin).read_bytes()
    inside, external = _resolve(_imported_names(ast.parse(source), name, False), files)
    return source, inside, external


@cache
def code_version(roots: tuple[str, ...], root: Path = PACKAGE_ROOT) -> str:
    """sha256 over the source of every module in `closure(roots)` (paths and bytes) and
    the versions of the `SHAPING` packages they import. A root outside the package (a
    third-party kind's stage) is hashed by its own source, and what it imports of the
    package is followed."""
    graph = import_graph(root)
    h = hashlib.sha256()
    external: set[str] = set()
    package_roots: list[str] = []
    for name in sorted(roots):
        if name in graph:
            package_roots.append(name)
            continue
        source, inside, ext = _outside_root(name, {m: i.path for m, i in graph.items()})
        h.update(name.encode() + b"\0" + source + b"\0")
        package_roots.extend(inside)
        external |= ext
    modules = closure(package_roots, root)
    for name in modules:
        info = graph[name]
        h.update(info.path.relative_to(root).as_posix().encode() + b"\0")
        h.update(info.path.read_bytes() + b"\0")
        external |= info.external
    for top in sorted(external & SHAPING.keys()):
        h.update(f"{top}:{_distribution_version(top)}\0".encode())
    return h.hexdigest()


def cycles(root: Path = PACKAGE_ROOT) -> list[list[str]]:
    """Import cycles among the package's modules (each a list of module names), found
    as the strongly connected components of more than one module. Only written imports
    are edges (not the implicit import of a module's parent package)."""
    graph = import_graph(root)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def strong(v: str) -> None:  # Tarjan, recursive (the package is small)
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v].imports):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out
