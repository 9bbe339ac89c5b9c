from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from tests.eval.mmlb_fixture import write_mmlb
from vlmctx_eval.cli import register


@pytest.fixture(scope="module")
def mmlb(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("mmlb")
    return root, write_mmlb(root)


def write_preds(path: Path, preds: dict[str, str], extra_lines: tuple[str, ...] = ()) -> Path:
    lines = [json.dumps({"sample_id": k, "prediction": v}) for k, v in preds.items()]
    path.write_text("\n".join([*lines, *extra_lines]) + "\n", encoding="utf-8")
    return path


def cli(argv: list[str]) -> int:
    """Run `vlmctx eval|report` through the registered parsers (as the core CLI does)."""
    parser = argparse.ArgumentParser(prog="vlmctx")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def touch(path: Path) -> None:
    """An empty placeholder file (release layouts whose videos are never decoded)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def read_results(out: Path) -> dict:
    """The one results.json under an eval run's output path."""
    (f,) = list(out.rglob("results.json"))
    return json.loads(f.read_text())
