"""CI runs exactly README's Quickstart: this fails when README's commands and ``.ci/run`` drift
apart, or when the install line's pins stop matching pyproject's ranges."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
RUN = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _extractor():
    spec = importlib.util.spec_from_file_location(
        "readme_commands", ROOT / ".ci/readme_commands.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _code_lines(script: str) -> list[str]:
    return [
        ln.strip() for ln in script.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]


def test_readme_quickstart_is_two_commands_install_then_pytest() -> None:
    install, test = _extractor().quickstart_commands(README)
    assert test == "python -m pytest -q"
    assert install.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install ")
    assert "-c constraints.txt" in install and "vlmctx ask sample" in install


def test_ci_run_executes_the_extracted_commands_and_nothing_else() -> None:
    code = _code_lines(RUN)
    assert "mapfile -t COMMANDS < <(python3 .ci/readme_commands.py README.md)" in code
    assert 'eval "$command"' in code
    assert code[-2:] == ["ruff check .", "ruff format --check ."]
    for word in ("pip ", "apt-get", "pytest", "venv"):  # all of these come from README only
        assert not any(word in ln for ln in code), word
    printed = subprocess.run(
        [sys.executable, str(ROOT / ".ci/readme_commands.py"), str(ROOT / "README.md")],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert printed == _extractor().quickstart_commands(README)


def _pins() -> dict[str, str]:
    lines = (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
    pins = [ln.split("==") for ln in lines if ln.strip() and not ln.startswith("#")]
    return {canonicalize_name(name): version.strip() for name, version in pins}


def test_install_line_pins_fit_pyproject_ranges() -> None:
    """Every requirement of the install line's extras has an exact pin in constraints.txt, inside
    pyproject's range (so the pins are what the ranges allow, and nothing is left unpinned)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    install = _extractor().quickstart_commands(README)[0]
    extras = re.search(r'-e "\.\[([a-z,]+)\]"', install).group(1).split(",")
    opt = project["optional-dependencies"]
    reqs = [Requirement(r) for r in project["dependencies"] + [r for e in extras for r in opt[e]]]
    pins = _pins()
    for req in reqs:
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} has no pin in constraints.txt"
        assert req.specifier.contains(pins[name]), f"{req.name}=={pins[name]} outside {req}"


def test_suite_runs_on_the_pinned_transformers() -> None:
    """The tests run on the pinned release (their Qwen3-VL layout is 5.25's)."""
    assert metadata.version("transformers") == _pins()["transformers"]
