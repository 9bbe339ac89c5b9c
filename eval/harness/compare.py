"""``vlmctx report --compare A B``: two runs compared sample by sample.

For every task both runs scored, the per-sample correctness (``acc`` of the MCQ tasks, else
``exact_match``) is read from each run's ``samples_<task>.jsonl`` and paired on the sample ids the
two runs share: accuracies with Wilson 95% intervals, the paired difference (B - A) and McNemar's
test (:mod:`vlmctx_eval.harness.stats`; exact binomial below 25 discordant pairs, continuity-corrected
chi-square above). Unpaired samples are counted, never scored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vlmctx.errors import ConfigError
from vlmctx_eval.harness.records import read_jsonl
from vlmctx_eval.harness.stats import paired_compare

BINARY = ("acc", "exact_match")


def _run_dir(path: str) -> Path:
    p = Path(path)
    p = p.parent if p.name == "results.json" else p
    if not (p / "results.json").is_file():
        raise ConfigError(f"{path!r} holds no results.json; --compare takes two run directories")
    return p


def correctness(run: Path, task: str) -> dict[str, bool]:
    """``{sample_id: correct}`` of one task in one run (samples without a binary score skipped)."""
    records, _ = read_jsonl(run / f"samples_{task}.jsonl")
    out: dict[str, bool] = {}
    for rec in records:
        scores = rec.get("scores") or {}
        key = next((k for k in BINARY if k in scores), None)
        if key is not None:
            out[str(rec["sample_id"])] = bool(scores[key])
    return out


def compare(a: str, b: str) -> dict[str, dict[str, Any]]:
    """Paired comparison per task shared by runs ``a`` and ``b``."""
    ra, rb = _run_dir(a), _run_dir(b)
    tasks_a = json.loads((ra / "results.json").read_text(encoding="utf-8")).get("results", {})
    tasks_b = json.loads((rb / "results.json").read_text(encoding="utf-8")).get("results", {})
    out = {}
    for task in sorted(set(tasks_a) & set(tasks_b)):
        ca, cb = correctness(ra, task), correctness(rb, task)
        if ca and cb:
            out[task] = paired_compare(ca, cb)
    if not out:
        raise ConfigError(f"{a} and {b} share no task with per-sample correct/wrong scores")
    return out


def to_markdown(a: str, b: str, result: dict[str, dict[str, Any]]) -> str:
    rows = [
        f"# Paired comparison\n\nA = `{a}`\n\nB = `{b}`\n",
        "| task | shared | acc A [95% CI] | acc B [95% CI] | B - A | A only right | "
        "B only right | McNemar p (method) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task, r in result.items():
        if not r["n_shared"]:
            rows.append(f"| {task} | 0 | | | | | | |")
            continue
        ci = lambda acc, c: f"{100 * acc:.1f} [{100 * c[0]:.1f}, {100 * c[1]:.1f}]"  # noqa: E731
        m = r["mcnemar"]
        rows.append(
            f"| {task} | {r['n_shared']} | {ci(r['acc_a'], r['ci_a'])} | "
            f"{ci(r['acc_b'], r['ci_b'])} | {100 * r['diff']:+.1f} | "
            f"{r['a_right_b_wrong']} | {r['b_right_a_wrong']} | "
            f"{m['p_value']:.4g} ({m['method']}) |"
        )
    return "\n".join(rows) + "\n"
