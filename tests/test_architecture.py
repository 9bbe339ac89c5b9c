"""The dependency direction of ARCHITECTURE.md, checked over the imports of every room.

``demos -> pipelines -> vlmctx`` and ``eval -> vlmctx``: the library imports no room, ``eval`` and
``pipelines`` do not import each other, nothing imports ``demos`` or ``tests``, and the rooms'
import graph has no cycle. The rooms install as ``vlmctx_eval``, ``vlmctx_pipelines`` and
``vlmctx_demos`` (folders ``eval/``, ``pipelines/``, ``demos/``): nothing may import a folder name,
and ``pyproject.toml`` lists every package. Imports are read from the source
(``import``/``from`` statements at any depth, ``__import__``/``importlib.import_module`` with a
literal name, and string literals that name another room's module, such as
``"pkg.module:function"`` specs or ``-m pkg.module``).

Inside the library the rule is finer: no import cycle between any two *files* of ``vlmctx/``
(:func:`test_no_import_cycle_between_library_files`). An edge goes from a file to the module an
import statement names (``from pkg import sub`` names ``pkg.sub`` when that is a module, else
``pkg/__init__.py``); imports inside functions count, ``if TYPE_CHECKING:`` blocks do not.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
# room (its import name) -> folder in the repository
ROOMS = {
    "vlmctx": "vlmctx",
    "vlmctx_pipelines": "pipelines",
    "vlmctx_eval": "eval",
    "vlmctx_demos": "demos",
    "vlmctx_serve": "serve",
}
ALLOWED = {  # room -> rooms it may import
    "vlmctx": set(),
    "vlmctx_pipelines": {"vlmctx"},
    "vlmctx_eval": {"vlmctx"},
    "vlmctx_demos": {"vlmctx_pipelines", "vlmctx"},
    "vlmctx_serve": {"vlmctx"},  # the server: the library's public API only
}
# importable only from the repository root: never
FOLDER_NAMES = {"eval", "pipelines", "demos", "serve"}
FRONT_END_ONLY = {"gradio", "matplotlib", "playwright", "fastapi", "uvicorn", "prometheus_client"}
_MODULE_STRING = re.compile(r"^-?m?\s*([A-Za-z_]\w*)[.:][A-Za-z_]")


def _imports(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports or names as a module string."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and _callee(node) in {"__import__", "import_module"}:
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.add(arg.value.split(".")[0])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = _MODULE_STRING.match(node.value)
            if match and match.group(1) in set(ROOMS) | FOLDER_NAMES:
                names.add(match.group(1))
    return names


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def room_edges() -> dict[str, dict[str, list[str]]]:
    """room -> {other room or tests it imports: [files that do]}."""
    edges: dict[str, dict[str, list[str]]] = {room: {} for room in ROOMS}
    for room, folder in ROOMS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            for other in _imports(path) & (set(ROOMS) | {"tests"} | FRONT_END_ONLY) - {room}:
                edges[room].setdefault(other, []).append(str(path.relative_to(ROOT)))
    return edges


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of ``graph`` as a path of nodes (first == last), or ``[]``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, nxt])):
                return cycle
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return []


def test_every_room_imports_only_what_the_direction_allows() -> None:
    bad = [
        f"{room} -> {other}: {', '.join(files)}"
        for room, targets in room_edges().items()
        for other, files in sorted(targets.items())
        if other in ROOMS and other not in ALLOWED[room] or other == "tests"
    ]
    assert not bad, "forbidden imports between rooms:\n" + "\n".join(bad)


def test_nothing_imports_a_room_by_its_folder_name() -> None:
    """``eval.x`` would import the folder from the repository root, a second copy of the module
    beside ``vlmctx_eval.x`` (and fail in an installed package)."""
    bad = []
    for folder in [*ROOMS.values(), "tests"]:
        for path in sorted((ROOT / folder).rglob("*.py")):
            hit = _imports(path) & FOLDER_NAMES
            if hit:
                bad.append(f"{path.relative_to(ROOT)} imports {sorted(hit)}")
    assert not bad, "\n".join(bad)


def test_pyproject_installs_every_package_under_its_room_name() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    assert config["setuptools"]["package-dir"] == ROOMS
    found = {
        ".".join([room, *init.parent.relative_to(ROOT / folder).parts])
        for room, folder in ROOMS.items()
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert sorted(config["setuptools"]["packages"]) == sorted(found)


def test_library_never_imports_front_end_deps() -> None:
    hits = {k: v for k, v in room_edges()["vlmctx"].items() if k in FRONT_END_ONLY}
    assert not hits, hits


def test_no_cycle_between_rooms() -> None:
    graph = {room: set(targets) & set(ROOMS) for room, targets in room_edges().items()}
    assert find_cycle(graph) == [], f"import cycle between rooms: {find_cycle(graph)}"


def test_the_checks_see_what_they_look_for(tmp_path) -> None:
    """The walker finds static, dynamic and string imports; the cycle finder finds cycles."""
    src = tmp_path / "m.py"
    src.write_text(
        "import vlmctx_eval.x\nfrom vlmctx_pipelines import y\n"
        "def f():\n    from vlmctx_demos.app import z\n"
        "importlib.import_module('vlmctx.video')\n"
        "DECODER = 'vlmctx_pipelines.batch.decode:decode'\n"
        "CMD = ['python', '-m', 'vlmctx_eval.bench.memory']\nNAME = 'eval'\n",
        encoding="utf-8",
    )
    assert _imports(src) == {"vlmctx_eval", "vlmctx_pipelines", "vlmctx_demos", "vlmctx"}
    src.write_text("import eval.x\nRUN = '-m pipelines.batch_cli'\n", encoding="utf-8")
    assert _imports(src) == {"eval", "pipelines"}
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) == []


# --- files of vlmctx/: no import cycle between any two of them ----------------------------------


def _is_type_checking(test: ast.expr) -> bool:
    """``if TYPE_CHECKING:`` or ``if typing.TYPE_CHECKING:``."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement at any depth (functions included), except ``if TYPE_CHECKING:`` ones."""
    found: list[ast.Import | ast.ImportFrom] = []

    def walk(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for orelse in child.orelse:
                    walk(orelse)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child)
            walk(child)

    walk(tree)
    return found


def library_modules(root: Path = ROOT / "vlmctx", name: str = "vlmctx") -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` of the library (``pkg/__init__.py`` is ``pkg``)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _resolve(module: str, modules: dict[str, Path]) -> str | None:
    """The deepest library module that ``module`` names (``a.b.Name`` -> ``a.b``), or None."""
    parts = module.split(".")
    while parts:
        if ".".join(parts) in modules:
            return ".".join(parts)
        parts.pop()
    return None


def file_edges(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> library modules it imports (the module a statement names; for ``from pkg import
    x`` the submodule ``pkg.x`` when it is one, else ``pkg``'s ``__init__``)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(_resolve(a.name, modules) for a in node.names)
                continue
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets.update(_resolve(f"{base}.{a.name}", modules) for a in node.names)
        graph[name] = {t for t in targets if t and t != name}
    return graph


def all_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one node (Tarjan), each as a path
    whose first node equals its last."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for start in sorted(graph):
        if start not in index:
            connect(start)
    cycles = []
    for component in sorted(components):
        members = set(component)
        cycles.append(find_cycle({n: graph[n] & members for n in component}))
    return cycles


def test_no_import_cycle_between_library_files() -> None:
    """ARCHITECTURE.md: inside ``vlmctx/`` no two files import each other, directly or in a
    circle. Imports inside functions count (they still tie the two files together); imports under
    ``if TYPE_CHECKING:`` do not (they never run)."""
    cycles = all_cycles(file_edges(library_modules()))
    assert not cycles, f"{len(cycles)} import cycle(s) between files of vlmctx/:\n" + "\n".join(
        " -> ".join(cycle) for cycle in cycles
    )


def test_the_file_cycle_check_sees_what_it_looks_for(tmp_path) -> None:
    """Relative, nested and ``from pkg import module`` imports make edges; TYPE_CHECKING ones don't."""
    pkg = tmp_path / "lib"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from lib.a import A\n", encoding="utf-8")
    (pkg / "a.py").write_text("def f():\n    from .sub import b\nA = 1\n", encoding="utf-8")
    (pkg / "sub" / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from lib import a\n"
        "import lib.c\n",
        encoding="utf-8",
    )
    (pkg / "c.py").write_text("from lib.sub import b\n", encoding="utf-8")
    modules = library_modules(pkg, "lib")
    graph = file_edges(modules)
    assert graph["lib"] == {"lib.a"} and graph["lib.a"] == {"lib.sub.b"}
    assert graph["lib.sub.b"] == {"lib.c"} and graph["lib.c"] == {"lib.sub.b"}
    assert all_cycles(graph) == [["lib.c", "lib.sub.b", "lib.c"]]
