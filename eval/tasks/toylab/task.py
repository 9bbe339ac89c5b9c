"""The ``toylab`` task: synthetic long videos whose answers hang on frames anywhere in them.

Each item is a scene from :mod:`vlmctx.video.synthetic.toy_scenes` (ball colour, the odd frame's
colour, how many red flashes, which shape came first, at what second a square appeared) rendered at 1 fps as
an H.264 clip of 16..256 frames. The set is generated into ``dir`` on first use, deterministic by
seed; ``toylab.jsonl`` indexes it. Run with ``--fps 1`` so the model sees every frame. Scores are
exact match of the normalised answer, per task and per frame count (``by_frames``: one line per
task, and ``accuracy`` for their mean), so ``vlmctx report`` plots accuracy vs video length with
one line per configuration.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from typing import Any, ClassVar

import numpy as np

from vlmctx.errors import ConfigError
from vlmctx.video.synthetic.toy_scenes import TASKS as QUESTIONS_KINDS
from vlmctx.video.synthetic.toy_scenes import make_item, render
from vlmctx.video.synthetic.writer import write_h264
from vlmctx_eval.harness.records import Sample, read_jsonl, remove_stale_parts
from vlmctx_eval.tasks.base import TASKS, LoadResult, Task, generated_dir

RENDER = (128, 96)
ALL_KINDS = ",".join(QUESTIONS_KINDS)


def _ints(v: Any) -> list[int]:
    if isinstance(v, int):
        return [v]
    if isinstance(v, str):
        return [int(x) for x in v.split(",") if x.strip()]
    return [int(x) for x in v]


def _names(v: Any) -> list[str]:
    names = [x.strip() for x in v.split(",")] if isinstance(v, str) else [str(x) for x in v]
    bad = [n for n in names if n not in QUESTIONS_KINDS]
    if bad:
        raise ConfigError(f"unknown toylab question kind(s) {bad}; known: {list(QUESTIONS_KINDS)}")
    return names


def _write(path: str, scene: Any) -> None:
    """Encode ``scene`` at 1 fps (near-lossless), atomically."""
    frames = (render(scene, i, *RENDER) for i in range(scene.frames))
    write_h264(path, frames, *RENDER, fps=1, crf=10)


def generate_toylab(dir: str, frames: list[int], kinds: list[str], per_cell: int, seed: int) -> str:
    """Write ``per_cell`` clips per (kind, frame count) and the index; return the index path.

    Temporary files a killed generation left behind are removed first, and this one's own on
    failure (an interrupt, a full disk)."""
    videos = os.path.join(dir, "videos")
    os.makedirs(videos, exist_ok=True)
    for folder in (dir, videos):
        remove_stale_parts(folder)
    try:
        return _generate(dir, frames, kinds, per_cell, seed)
    except BaseException:
        for folder in (dir, videos):
            remove_stale_parts(folder, own=True)
        raise


def _generate(dir: str, frames: list[int], kinds: list[str], per_cell: int, seed: int) -> str:
    index = os.path.join(dir, "toylab.jsonl")
    lines = []
    for n in frames:
        for k, kind in enumerate(kinds):
            rng = np.random.default_rng((seed, n, QUESTIONS_KINDS.index(kind)))
            for j in range(per_cell):
                scene, question, answer = make_item(kind, n, rng)
                name = f"{kind}-{n:04d}-{j:03d}"
                _write(os.path.join(dir, "videos", name + ".mp4"), scene)
                lines.append(
                    {
                        "id": name,
                        "task": kind,
                        "frames": n,
                        "video": f"videos/{name}.mp4",
                        "question": question,
                        "answer": answer,
                    }
                )
            del k
    tmp = index + ".part"
    with open(tmp, "w") as f:
        f.writelines(json.dumps(rec) + "\n" for rec in lines)
    os.replace(tmp, index)
    return index


@TASKS.register("toylab", summary="synthetic long-video questions (toy lab), generated locally")
class ToyLab(Task):
    """Toy-lab questions from ``dir`` (generated there first when ``toylab.jsonl`` is missing)."""

    name: ClassVar[str]  # set by TASKS.register
    version = "1"
    sample_metric = "exact_match"
    generates_data = True

    def __init__(
        self,
        dir: str | None = None,
        frames: Any = "16,32,64,128,256",
        kinds: Any = ALL_KINDS,
        per_cell: int = 10,
        seed: int = 0,
        generate: bool = True,
    ) -> None:
        self.gen_args = {
            "frames": _ints(frames),
            "kinds": _names(kinds),
            "per_cell": int(per_cell),
            "seed": int(seed),
        }
        self.dir = dir or generated_dir("toylab", self.gen_args)  # default: under the cache
        self.index = os.path.join(self.dir, "toylab.jsonl")
        self.generate = generate
        if not self.gen_args["frames"] or min(self.gen_args["frames"]) < 1:
            raise ConfigError(f"toylab frames must be positive frame counts, got {frames!r}")
        if self.gen_args["per_cell"] < 1:
            raise ConfigError(f"toylab per_cell must be >= 1, got {per_cell!r}")

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "dir": self.dir, **self.gen_args}

    def load(self, lengths: list[int] | None = None, limit: int | None = None) -> LoadResult:
        meta = os.path.join(self.dir, "toylab.json")
        if not os.path.exists(self.index):
            if not self.generate:
                raise ConfigError(f"no toylab set at {self.index!r}; pass generate=true")
            generate_toylab(self.dir, **self.gen_args)
            with open(meta, "w") as f:
                json.dump(self.gen_args, f)
        elif os.path.exists(meta):
            with open(meta) as f:
                made = json.load(f)
            if made != self.gen_args:
                raise ConfigError(
                    f"the toylab set in {self.dir!r} was generated with {made}, not "
                    f"{self.gen_args}; use another dir or delete that one"
                )
        out = LoadResult()
        records, problems = read_jsonl(self.index)
        for p in problems:
            out.error(p, "malformed line")
        wanted = set(self.gen_args["frames"]), set(self.gen_args["kinds"])
        for rec in records:
            try:
                if rec["frames"] not in wanted[0] or rec["task"] not in wanted[1]:
                    continue
                out.samples.append(
                    Sample(
                        id=str(rec["id"]),
                        target=str(rec["answer"]),
                        video=os.path.join(self.dir, rec["video"]),
                        question=str(rec["question"]),
                        max_new_tokens=8,
                        meta={"task": rec["task"], "frames": int(rec["frames"])},
                    )
                )
            except KeyError as exc:
                out.error(f"toylab.jsonl id={rec.get('id')}", f"missing field {exc}")
            if limit and len(out.samples) >= limit:
                break
        return out

    def strata(self, sample: Sample) -> dict[str, str]:
        """The report's breakdown: question kind x video length."""
        return {"kind": str(sample.meta["task"]), "frames": str(sample.meta["frames"])}

    def score_one(self, sample: Sample, record: dict[str, Any]) -> dict[str, Any]:
        got = str(record["prediction"]).strip().lower().rstrip(".")
        return {"exact_match": float(got == str(sample.target).lower())}

    def aggregate(self, samples: list[Sample], scores: list[dict[str, Any]]) -> dict[str, Any]:
        cells: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
        for s, sc in zip(samples, scores, strict=True):
            if "exact_match" in sc:
                cells[s.meta["task"]][s.meta["frames"]].append(sc["exact_match"])
        by_frames = {
            kind: {str(n): 100.0 * float(np.mean(v)) for n, v in sorted(row.items())}
            for kind, row in cells.items()
        }
        frames = sorted({n for row in cells.values() for n in row})
        mean_row = {
            str(n): float(np.mean([row[str(n)] for row in by_frames.values() if str(n) in row]))
            for n in frames
        }
        scores_flat = {kind: float(np.mean(list(row.values()))) for kind, row in by_frames.items()}
        if scores_flat:
            scores_flat = {"accuracy": float(np.mean(list(scores_flat.values()))), **scores_flat}
        return {
            "primary": "accuracy",
            "scores": scores_flat,
            "breakdowns": {"by_frames": {"accuracy": mean_row, **by_frames}},
            "n_scored": {"all": sum(len(v) for row in cells.values() for v in row.values())},
        }
