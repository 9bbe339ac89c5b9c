"""Two eval runs of toylab + V-NIAH (small generated sets, rescored predictions) and their report.

The toylab index gets one record without its fields (a malformed data record in both runs).
Run A answers every toylab question right except the 16-frame ones and no V-NIAH code; run B
(another frame count, so the runs are labelled ``n=8`` and ``n=16``) answers toylab's ball and
order questions right and every V-NIAH code. The predictions are written from the generated
indexes, so the scores are known exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.eval.conftest import cli, write_preds
from vlmctx_eval.tasks.base import TASKS
from vlmctx_eval.tasks.registry import load_builtin_tasks

PER_CELL = 3  # toylab questions per (kind, frame count): 2 kinds x 3 frame counts x 3 = 18


def _index(path: Path) -> list[dict]:
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]


def make_two_runs(tmp: Path) -> tuple[Path, list[Path]]:
    """(output path holding both runs, [run A dir, run B dir]); the report is not written."""
    data_t, data_v, out = tmp / "toylab", tmp / "vniah", tmp / "runs"
    params = {
        "toylab": {"dir": data_t, "frames": "8,16,32", "kinds": "ball,order", "per_cell": PER_CELL},
        "vniah": {"dir": data_v, "frames": "8,16", "depths": "0,0.5,1", "size": 64},
    }
    common = ["--tasks", "toylab,vniah", "--no-progress"]
    for task, kv in params.items():
        for key, value in kv.items():
            common += ["--task-arg", f"{task}:{key}={value}"]
    load_builtin_tasks()  # generate both sets (what `vlmctx eval` does on first use)
    for task, kv in params.items():
        TASKS.create(
            task, **{k: str(v) if isinstance(v, Path) else v for k, v in kv.items()}
        ).load()
    toy, vn = _index(data_t / "toylab.jsonl"), _index(data_v / "vniah.jsonl")
    with (data_t / "toylab.jsonl").open("a") as f:  # one malformed record, reported per run
        f.write('{"id": "broken", "task": "ball"}\n')
    a = {r["id"]: (r["answer"] if r["frames"] != 16 else "nothing") for r in toy}
    a.update({r["id"]: "0000" for r in vn})
    b = {r["id"]: r["answer"] for r in toy if r["task"] in ("ball", "order")}
    b.update({r["id"]: "no idea" for r in toy if r["task"] not in ("ball", "order")})
    b.update({r["id"]: f"Answer: {r['answer']}" for r in vn})
    runs = []
    for name, preds, frames in (("A", a, "8"), ("B", b, "16")):
        pf = write_preds(tmp / f"{name}.jsonl", preds)
        argv = f"eval --model toylab --predictions {pf} --frames {frames} --output-path {out}"
        assert cli([*argv.split(), *common]) == 0
        runs.append(max(out.iterdir(), key=lambda p: (p / "results.json").stat().st_mtime))
    return out, runs
