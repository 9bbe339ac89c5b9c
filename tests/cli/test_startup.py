"""Start-up of the ``vlmctx`` command: what each command imports, and the shape of its help.

Time is measured by the committed benchmark (``python -m vlmctx_eval.bench.startup``), never by a
test; here we check the cause of slowness instead: which heavy modules a command imports. Each
command runs in a fresh interpreter (``sys.modules`` of this test process is shared by all tests).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "torchcodec", "gradio", "cv2", "decord", "matplotlib")

PROBE = """
import json, sys
from vlmctx.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # --help exits through argparse
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _imports(*argv: str) -> tuple[int, set[str]]:
    """Exit code and top-level modules imported by ``vlmctx *argv``."""
    code, modules = _imports_all(*argv)
    return code, {m for m in modules if "." not in m}


def _imports_all(*argv: str) -> tuple[int, set[str]]:
    """Exit code and every module (submodules included) imported by ``vlmctx *argv``."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=600
    )
    last = out.stdout.strip().splitlines()[-1]
    data = json.loads(last)
    return data["code"], set(data["modules"])


@pytest.mark.parametrize(
    "argv",
    [
        ("--help",),
        ("ask", "--help"),
        ("batch", "--help"),
        ("train-far", "--help"),
        ("info", "sample"),
        ("info", "sample", "--json"),
    ],
    ids=lambda a: " ".join(a),
)
def test_light_commands_import_no_heavy_library(argv: tuple[str, ...]) -> None:
    code, modules = _imports(*argv)
    assert code == 0
    heavy = sorted(modules.intersection(HEAVY))
    assert not heavy, f"`vlmctx {' '.join(argv)}` imported {heavy}"


def test_ls_imports_no_model_library() -> None:
    """`ls` reads the registries; the poolers' and position schemes' modules are torch code, so
    torch is imported (known cost, see eval/bench/results/startup.md), transformers is not."""
    code, modules = _imports("ls")
    assert code == 0
    assert not modules.intersection({"transformers", "gradio", "cv2", "torchcodec"})


def test_help_of_every_command_has_a_description_and_examples() -> None:
    """Every command's --help says what it does and shows at least two example command lines."""
    import argparse

    from vlmctx.cli import build_parser

    def walk(parser: argparse.ArgumentParser, name: str):
        yield name, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, child in action.choices.items():
                    yield from walk(child, f"{name} {sub}")

    missing = []
    for name, parser in walk(build_parser(), "vlmctx"):
        if parser._subparsers is not None and name != "vlmctx":
            continue  # a command group: its commands are checked
        text = parser.format_help()
        examples = [ln for ln in text.splitlines() if ln.startswith("  vlmctx ")]
        if not parser.description or len(examples) < 2:
            missing.append(name)
    assert not missing, f"no description or fewer than 2 examples: {missing}"


def test_verbose_and_quiet_work_on_every_command() -> None:
    from vlmctx.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["info", "x.mp4", "-v", "-v"])
    assert args.verbose == 2 and not args.quiet
    args = parser.parse_args(["-q", "info", "x.mp4"])
    assert args.quiet and args.verbose == 0
    args = parser.parse_args(["batch", "in", "-o", "o.jsonl", "--quiet", "-q", "Q?"])
    assert args.quiet and args.question == ["Q?"]  # batch keeps -q for --question


def test_ask_with_toylab_imports_only_its_own_path() -> None:
    """`ask --model toylab` pays for torch, torchvision (transformers' processors import it) and
    the Qwen2-VL classes, and for nothing vlmctx could leave out: no other room, no front-end
    library, no other family's transformers code (eval/bench/results/startup.md has the times)."""
    code, modules = _imports_all("ask", "sample", "What colour is the ball?", "--model", "toylab",
                                 "--fps", "1", "--max-new-tokens", "2")  # fmt: skip
    assert code == 0
    top = {m.split(".")[0] for m in modules}
    assert not top.intersection({"vlmctx_eval", "vlmctx_pipelines", "vlmctx_demos", "gradio",
                                 "pandas", "matplotlib", "cv2", "decord", "ray"})  # fmt: skip
    assert "transformers.models.qwen2_vl" in modules
    others = {f"transformers.models.{f}" for f in
              ("qwen2_5_vl", "qwen3_vl", "qwen3_5", "llava_onevision", "internvl")}  # fmt: skip
    assert not modules.intersection(others)
    assert not {m for m in modules if m.startswith(("vlmctx.far", "vlmctx.streaming"))}
    assert not {m for m in modules if m.startswith("PIL.") and m.endswith("ImagePlugin")}
