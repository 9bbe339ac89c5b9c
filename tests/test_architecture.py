"""The dependency direction of ARCHITECTURE.md: vlmctx/ never imports the rooms built on it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROOMS = {"pipelines", "eval", "demos", "tests"}
FRONT_END_ONLY = {"gradio", "matplotlib", "playwright"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.add(arg.value.split(".")[0])
    return names


def test_library_never_imports_rooms_or_front_end_deps() -> None:
    bad = []
    for path in sorted((ROOT / "vlmctx").rglob("*.py")):
        hit = _imports(path) & (ROOMS | FRONT_END_ONLY)
        if hit:
            bad.append(f"{path.relative_to(ROOT)} imports {sorted(hit)}")
    assert not bad, "\n".join(bad)


def test_pipelines_and_eval_never_import_demos() -> None:
    bad = []
    for room in ("pipelines", "eval"):
        for path in sorted((ROOT / room).rglob("*.py")):
            if "demos" in _imports(path):
                bad.append(str(path.relative_to(ROOT)))
    assert not bad, bad
