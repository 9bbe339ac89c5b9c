"""The crash-safe JSONL store, manifests and the shared claim queue (no model needed)."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import pytest

from vlmctx.errors import DataFormatError
from vlmctx_pipelines.batch.items import from_folder, group_jobs, load_items
from vlmctx_pipelines.batch.schedule import LocalQueue, SharedQueue
from vlmctx_pipelines.batch.store import RecordWriter, finished, read_records, repair


def test_writer_appends_whole_lines_and_repair_cuts_a_torn_tail(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with RecordWriter(out) as w:
        w.write({"id": "a", "error": None, "x": "é" * 5000})  # a multi-page line
        w.write({"id": "b", "error": "VideoDecodeError: bad"})
    whole = out.read_bytes()
    assert whole.count(b"\n") == 2
    with open(out, "ab") as fh:  # what a kill inside write() can leave
        fh.write(b'{"id": "c", "answer": "hal')
    assert [r["id"] for r in read_records(out)] == ["a", "b"]
    assert repair(out) == len(b'{"id": "c", "answer": "hal')
    assert out.read_bytes() == whole
    assert repair(out) == 0
    assert set(finished(out)) == {"a", "b"}
    assert set(finished(out, retry_failed=True)) == {"a"}


def test_repair_cuts_a_terminated_but_invalid_last_line(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "a"}\n{"id": \n')
    repair(out)
    assert out.read_text() == '{"id": "a"}\n'


def test_a_bad_line_in_the_middle_is_an_error_not_silently_dropped(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(DataFormatError, match=":2:"):
        finished(out)


def _claimer(path: str, n_jobs: int, q: mp.Queue) -> None:
    sq = SharedQueue(path, n_jobs)
    got = []
    while (k := sq.claim()) is not None:
        got.append(k)
        sq.add_done(1)
    q.put(got)


def test_shared_queue_hands_each_job_to_exactly_one_process(tmp_path: Path) -> None:
    path = str(tmp_path / "q")
    SharedQueue(path, 200).reset()
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_claimer, args=(path, 200, q)) for _ in range(3)]
    for p in procs:
        p.start()
    claims = [q.get(timeout=30) for _ in procs]
    for p in procs:
        p.join()
    flat = sorted(k for c in claims for k in c)
    assert flat == list(range(200))
    assert SharedQueue(path, 200).add_done(0) == 200
    local = LocalQueue(2)
    assert [local.claim(), local.claim(), local.claim()] == [0, 1, None]


def test_folder_manifest_and_longest_first(tmp_path: Path) -> None:
    (tmp_path / "v").mkdir()
    for name, size in (("a.mp4", 10), ("b.mkv", 300), ("c.txt", 5000)):
        (tmp_path / "v" / name).write_bytes(b"x" * size)
    items = from_folder(tmp_path / "v", ["What is in {name}?", "Count things."])
    assert [i.question for i in items][:2] == ["What is in a.mp4?", "Count things."]
    assert len(items) == 4 and len({i.id for i in items}) == 4
    assert [j.video.endswith("b.mkv") for j in group_jobs(items)] == [True, False]
    csv = tmp_path / "m.csv"
    csv.write_text("video,question,id\nv/a.mp4,Why?,x1\nv/b.mkv,,x2\n")
    got = load_items(csv, ["Describe {stem}."])
    assert [(i.id, i.question) for i in got] == [("x1", "Why?"), ("x2", "Describe b.")]
    assert got[0].video == str(tmp_path / "v" / "a.mp4")
    jl = tmp_path / "m.jsonl"
    jl.write_text(json.dumps({"video": "v/a.mp4"}) + "\n")
    with pytest.raises(DataFormatError, match="question"):
        load_items(jl)
    with pytest.raises(DataFormatError, match="template"):
        from_folder(tmp_path / "v", ["{oops}"])
