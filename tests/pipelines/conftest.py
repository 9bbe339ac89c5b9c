"""Fixtures for the batch tests: a few short generated videos, a broken one, a manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = "tiny-qwen2_vl"


def make_videos(folder: Path, lengths: list[int], size: tuple[int, int] = (96, 64)) -> list[Path]:
    """Clips of ``lengths`` frames each (25 fps, H.264), written once per folder."""
    from vlmctx.video.synthetic.clips import write_clip

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, n in enumerate(lengths):
        p = folder / f"clip{k:02d}.mp4"
        if not p.exists():
            write_clip(p, width=size[0], height=size[1], num_frames=n, gop=25, bframes=0)
        paths.append(p)
    return paths


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_videos(tmp_path_factory.mktemp("clips"), [30, 60, 20, 45, 25])


def write_manifest(path: Path, videos: list[Path], questions: list[str]) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for v in videos:
            for q in questions:
                fh.write(json.dumps({"video": str(v), "question": q}) + "\n")
    return path


def batch_cmd(inp: Path | str, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "vlmctx_pipelines.batch.cli", str(inp), "-o", str(out),
        "--model", TINY, "--device", "cpu", "--frames", "4", "--max-new-tokens", "4",
        "--decode-workers", "1", "--no-progress", *extra,
    ]  # fmt: skip


def run_batch_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    return subprocess.run(
        list(args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def pids_where(file: str, test: Callable[[bytes], bool]) -> list[int]:
    """Pids of the processes whose ``/proc/<pid>/<file>`` passes ``test`` (Linux)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                data = (entry / file).read_bytes()
            except OSError:
                continue  # gone meanwhile
            if test(data):
                pids.append(int(entry.name))
    return pids
