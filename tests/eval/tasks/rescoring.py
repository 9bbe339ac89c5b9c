"""Rescoring a task on a release folder through ``vlmctx eval --predictions`` (the release tests
of issue 26 share it)."""

from __future__ import annotations

from pathlib import Path

from tests.eval.conftest import cli, read_results, write_preds


def rescore_argv(
    tmp: Path, task: str, root: Path, preds: dict[str, str], protocol: str | None = None
) -> tuple[list[str], Path]:
    """The command line and the output path of one rescoring run (``protocol=None``: the
    task's default)."""
    argv = ["eval", "--tasks", task, "--task-arg", f"{task}:root={root}"]
    if protocol:
        argv += ["--task-arg", f"{task}:protocol={protocol}"]
    out = tmp / f"out-{protocol or 'default'}"
    preds_file = write_preds(tmp / "p.jsonl", preds)
    argv += ["--predictions", str(preds_file), "--output-path", str(out), "--no-progress"]
    return argv, out


def rescore(
    tmp: Path, task: str, root: Path, preds: dict[str, str], protocol: str | None = None
) -> dict:
    """The task's results of a rescoring run that must succeed."""
    argv, out = rescore_argv(tmp, task, root, preds, protocol)
    assert cli(argv) == 0
    return read_results(out)["results"][task]
