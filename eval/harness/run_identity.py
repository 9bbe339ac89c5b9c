"""What makes a run folder's predictions reusable: model, ContextConfig, task and data.

A run folder used to be keyed by model and ContextConfig only, so a rerun with other task
arguments into the same ``--output-path`` resumed from the old predictions and scored them
against the new task (toylab seed 1 scored 20.00 from seed-0 predictions; the right figure was
40.00). Now:

* the folder name hashes the tasks' descriptions too (name, version, arguments:
  :meth:`Task.describe`), so other task arguments or a new task version start a new folder;
* ``predictions/<task>/identity.json`` records the task's description and a fingerprint of every
  sample predicted there (id, question, target, video or image names and sizes). A resume checks
  both: a sample whose fingerprint changed (data regenerated or edited under the same arguments)
  or a different description refuses the run with a message, never mixes. Samples new to the
  folder (a larger ``--limit``, another ``--lengths``) are simply added.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from vlmctx.errors import VlmctxError
from vlmctx_eval.harness.records import ImageRef, Sample
from vlmctx_eval.tasks.base import Task

IDENTITY_FILE = "identity.json"


def digest(obj: Any, n: int = 8) -> str:
    """First ``n`` hex digits of the SHA-256 of ``obj`` as sorted JSON."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def _file_sig(path: str | None) -> Any:
    """A file's name and size (cheap; catches a regenerated or replaced file)."""
    if path is None:
        return None
    try:
        return [os.path.basename(path), os.path.getsize(path)]
    except OSError:
        return [os.path.basename(path), None]


def sample_fingerprint(s: Sample) -> str:
    """16 hex digits over what the model is asked and what it is scored against."""
    parts: list[Any] = [
        s.id,
        s.target,
        s.question,
        s.max_new_tokens,
        s.assistant_prefix,
        _file_sig(s.video),
    ]
    parts += [_file_sig(c.path) if isinstance(c, ImageRef) else c for c in s.content or []]
    return digest(parts, 16)


def task_identity(task: Task, samples: list[Sample]) -> dict[str, Any]:
    """The description of ``task`` and a fingerprint per sample."""
    return {
        "task": json.loads(json.dumps(task.describe(), default=str)),
        "samples": {s.id: sample_fingerprint(s) for s in samples},
    }


def check_identity(shard_dir: Path, ident: dict[str, Any], write: bool) -> None:
    """Refuse to add predictions of ``ident`` to ``shard_dir`` when its records are of another
    task or other data; with ``write``, record ``ident`` there (merged with earlier samples)."""
    path = shard_dir / IDENTITY_FILE
    where = shard_dir.parent.parent
    fix = f"use another --output-path, or delete {where} to start over"
    old = _read(path, fix)
    if old is None and any(shard_dir.glob("rank*.jsonl")):
        raise VlmctxError(
            f"{shard_dir} holds predictions without a record of their task arguments and data "
            f"(made by an older vlmctx); they cannot be checked against this run: {fix}"
        )
    if old is not None:
        if old.get("task") != ident["task"]:
            keys = sorted(
                k
                for k in {*old.get("task", {}), *ident["task"]}
                if old.get("task", {}).get(k) != ident["task"].get(k)
            )
            changes = ", ".join(
                f"{k} {old.get('task', {}).get(k)!r} -> {ident['task'].get(k)!r}" for k in keys
            )
            raise VlmctxError(
                f"the predictions in {shard_dir} are of task {ident['task'].get('name')} with "
                f"other arguments ({changes}); {fix}"
            )
        seen = old.get("samples", {})
        changed = [sid for sid, fp in ident["samples"].items() if seen.get(sid, fp) != fp]
        if changed:
            raise VlmctxError(
                f"{len(changed)} sample(s) of task {ident['task'].get('name')} changed since "
                f"their predictions in {shard_dir} were made (e.g. {changed[0]!r}: the data was "
                f"regenerated or edited); {fix}"
            )
    if write:
        merged = {
            "task": ident["task"],
            "samples": {**(old or {}).get("samples", {}), **ident["samples"]},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # every rank writes the same
        tmp.write_text(json.dumps(merged, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)


def _read(path: Path, fix: str) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VlmctxError(f"cannot read {path} ({exc}); {fix}") from None
    if not isinstance(data, dict) or not isinstance(data.get("samples", {}), dict):
        raise VlmctxError(f"{path} is not a run identity file; {fix}")
    return data
