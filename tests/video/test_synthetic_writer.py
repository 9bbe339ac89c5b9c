"""The one H.264 writer: concurrent writers of the same file never leave a torn file behind."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from vlmctx.video.synthetic.writer import temp_path, write_h264

SIZE = 32
LEVELS = (40, 120, 200)  # one grey level per writer, so a mixed file would show two


def frames_of(level: int) -> list[np.ndarray]:
    """Writer ``level``'s clip: ``level // 8`` flat frames (h, w, 3) of that grey level."""
    return [np.full((SIZE, SIZE, 3), level, np.uint8) for _ in range(level // 8)]


def check_whole(path: Path) -> int:
    """Decode ``path`` fully; it must be exactly one writer's clip. Returns that writer's level."""
    with av.open(str(path)) as container:
        means = [f.to_ndarray(format="rgb24").mean() for f in container.decode(video=0)]
    level = min(LEVELS, key=lambda v: abs(v - means[0]))
    assert len(means) == level // 8, f"{len(means)} frames: a torn or mixed file"
    assert np.allclose(means, level, atol=3), "frames of two writers in one file"
    return level


def _watch(path: Path, done: threading.Event, errors: list[BaseException]) -> None:
    """Until ``done``: whenever ``path`` exists, it must be one writer's whole clip."""
    try:
        while not done.is_set():
            if path.exists():
                check_whole(path)
    except BaseException as exc:  # noqa: BLE001 - reported by the main thread
        errors.append(exc)


def test_temp_names_are_unique_per_writer(tmp_path) -> None:
    target = tmp_path / "v.mp4"
    names = {temp_path(target) for _ in range(100)}
    assert len(names) == 100 and all(n.parent == tmp_path for n in names)


def test_concurrent_threads_writing_one_file_leave_a_whole_file(tmp_path) -> None:
    target = tmp_path / "v.mp4"
    start = threading.Barrier(len(LEVELS))
    errors: list[BaseException] = []

    def write(level: int) -> None:
        try:
            start.wait()
            for _ in range(3):
                write_h264(target, frames_of(level), SIZE, SIZE, 10)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    done = threading.Event()
    watcher = threading.Thread(target=_watch, args=(target, done, errors))
    writers = [threading.Thread(target=write, args=(v,)) for v in LEVELS]
    watcher.start()
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    watcher.join()
    assert not errors, errors
    assert check_whole(target) in LEVELS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]  # no temp file left


def test_concurrent_processes_writing_one_file_leave_a_whole_file(tmp_path) -> None:
    target, go, levels = tmp_path / "v.mp4", tmp_path / "go", LEVELS[:2]
    code = (
        "import pathlib, sys, time, numpy as np\n"
        "from vlmctx.video.synthetic.writer import write_h264\n"
        "level, go = int(sys.argv[2]), pathlib.Path(sys.argv[3])\n"
        f"frames = [np.full(({SIZE}, {SIZE}, 3), level, np.uint8)] * (level // 8)\n"
        "go.with_name(f'ready{level}').touch()\n"
        "while not go.exists(): time.sleep(0.001)\n"
        f"for _ in range(10): write_h264(sys.argv[1], frames, {SIZE}, {SIZE}, 10)\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(target), str(level), str(go)])
        for level in levels
    ]
    while not all((tmp_path / f"ready{v}").exists() for v in levels):
        assert all(p.poll() is None for p in procs), "a writer process died before starting"
        time.sleep(0.01)
    go.touch()  # both write from now on, at once
    while any(p.poll() is None for p in procs):  # meanwhile, the file is always whole
        if target.exists():
            check_whole(target)
    assert [p.returncode for p in procs] == [0, 0]
    assert check_whole(target) in levels
    assert not list(tmp_path.glob("*.part"))  # no temp file left


def test_a_failed_write_leaves_neither_target_nor_temp(tmp_path) -> None:
    bad = [np.zeros((SIZE, SIZE, 3), np.uint8), np.zeros((SIZE, SIZE), np.uint8)]  # 2-D frame
    with pytest.raises((ValueError, TypeError)):
        write_h264(tmp_path / "v.mp4", bad, SIZE, SIZE, 10)
    assert list(tmp_path.iterdir()) == []
