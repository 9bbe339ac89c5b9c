"""Statistics of the toy-lab experiment: per-question predictions in, intervals and paired tests out.

The experiment (:mod:`vlmctx_eval.experiments.toylab.experiment`) asks every configuration (position scheme x
pooler) the *same* questions, for every training seed. This module turns its per-question
predictions (one row per seed and question, every configuration's answer and correctness; the
committed ``eval/bench/results/toylab_predictions.jsonl.gz``) into what the docs may cite:

- per configuration and video length, the mean over seeds of the accuracy (every seed asks the
  same number of questions, so it is also the pooled accuracy) with a Wilson 95% interval over
  the pooled questions, and each seed's accuracy beside it. The interval covers question sampling
  only; the per-seed column shows how much the training seed moves a cell;
- the headline over the question kinds the model learned at its trained length
  (:data:`LEARNED`: ball, needle, order); the unlearned kinds (count, when) are reported apart,
  since a mean that includes two kinds at their answer prior dilutes every effect;
- McNemar's test (:func:`vlmctx_eval.harness.stats.mcnemar`; exact binomial below 25 discordant pairs) on
  the same questions, paired by (seed, question), for each comparison the docs make
  (:data:`CLAIMS`), with Holm's step-down adjustment over that family, and for every
  configuration against the stock one at every length (Holm over that larger family too).

``python -m vlmctx_eval.experiments.toylab.stats [PREDICTIONS]`` rebuilds ``toylab.{json,md,png}`` from the
predictions file alone (seconds, no model), so anyone can check the tables against the data.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from vlmctx_eval.harness.stats import mcnemar, wilson_interval

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"
PREDICTIONS = RESULTS / "toylab_predictions.jsonl.gz"
LEARNED = ("ball", "needle", "order")  # >= 85% at the trained length (shipped checkpoint)
UNLEARNED = ("count", "when")  # at or near their answer prior at every length
BASELINE = "default + none"
VCWE_ALL, VCWE_VIS = "vcwe(apply_to=all)", "vcwe(apply_to=visual)"

# The comparisons docs/toylab.md and README.md make: (id, configuration A, configuration B, frames).
# The difference is B - A on the learned kinds; Holm's adjustment runs over this family.
CLAIMS: tuple[tuple[str, str, str, int], ...] = (
    ("vcwe-all-32", BASELINE, f"{VCWE_ALL} + none", 32),
    ("pi-256", BASELINE, "pi + none", 256),
    ("yarn-256", BASELINE, "yarn + none", 256),
    ("ntk-256", BASELINE, "ntk + none", 256),
    ("mrope_pp-256", BASELINE, "mrope_pp + none", 256),
    ("v2pe-256", BASELINE, "v2pe + none", 256),
    ("vcwe-visual-32", BASELINE, f"{VCWE_VIS} + none", 32),
    ("vcwe-visual-64", BASELINE, f"{VCWE_VIS} + none", 64),
    ("vcwe-visual-128", BASELINE, f"{VCWE_VIS} + none", 128),
    ("vcwe-visual-256", BASELINE, f"{VCWE_VIS} + none", 256),
    ("progressive-16", BASELINE, "default + progressive", 16),
    ("progressive-64", BASELINE, "default + progressive", 64),
    ("progressive-256", BASELINE, "default + progressive", 256),
    ("vcwe-visual+progressive-64", BASELINE, f"{VCWE_VIS} + progressive", 64),
    ("vcwe-visual+progressive-256", BASELINE, f"{VCWE_VIS} + progressive", 256),
)

# The realistic-window variant (docs/toylab.md, "A realistic visual window"): each VCWE reading
# against stock, and the two readings against each other, past the trained length.
WINDOW_CLAIMS: tuple[tuple[str, str, str, int], ...] = tuple(
    claim
    for f in (32, 64, 128, 256)
    for claim in (
        (f"vcwe-all-{f}", BASELINE, f"{VCWE_ALL} + none", f),
        (f"vcwe-visual-{f}", BASELINE, f"{VCWE_VIS} + none", f),
        (f"all-vs-visual-{f}", f"{VCWE_VIS} + none", f"{VCWE_ALL} + none", f),
    )
)

# Result sets: the file stem (``<name>.md``, ``<name>_predictions.jsonl.gz``) -> (title, claims).
RESULT_SETS: dict[str, tuple[str, tuple[tuple[str, str, str, int], ...]]] = {
    "toylab": ("Toy lab: accuracy vs video length per position scheme and pooling", CLAIMS),
    "toylab_window": (
        "Toy lab, realistic-window variant: accuracy vs video length per position scheme",
        WINDOW_CLAIMS,
    ),
}


def result_set(name: str) -> tuple[str, tuple[tuple[str, str, str, int], ...]]:
    """Title and claims of the result set ``name`` (an unknown name gets the toy lab's claims)."""
    return RESULT_SETS.get(name, (f"Toy lab ({name})", CLAIMS))


def name_of(predictions: Path) -> str:
    """The result set a predictions file belongs to: ``toylab_window_predictions.jsonl.gz`` ->
    ``toylab_window``; any other file name -> ``toylab``."""
    stem, sep, _ = predictions.name.partition("_predictions.")
    return stem if sep else "toylab"


# ---- the predictions file -----------------------------------------------------------------------


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write one JSON line per (seed, question), gzip-compressed, deterministic bytes (mtime 0)."""
    text = "".join(json.dumps(r) + "\n" for r in rows).encode()  # keeps the grid order
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(text)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows :func:`write_rows` wrote (plain ``.jsonl`` too)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ---- cells and tests ----------------------------------------------------------------------------


def _pct(x: float) -> float:
    return round(100.0 * x, 1)


def cell(rows: list[dict[str, Any]], label: str, frames: int, kinds: tuple[str, ...]) -> dict:
    """Accuracy of ``label`` at ``frames`` over ``kinds``: pooled, Wilson 95%, and per seed."""
    per_seed: dict[int, list[int]] = defaultdict(list)
    for r in rows:
        if r["frames"] == frames and r["kind"] in kinds and label in r["correct"]:
            per_seed[r["seed"]].append(int(r["correct"][label]))
    k = sum(sum(v) for v in per_seed.values())
    n = sum(len(v) for v in per_seed.values())
    lo, hi = wilson_interval(k, n)
    return {
        "k": k,
        "n": n,
        "acc": _pct(k / n) if n else None,
        "ci95": [_pct(lo), _pct(hi)],
        "per_seed": {str(s): _pct(sum(v) / len(v)) for s, v in sorted(per_seed.items())},
    }


def paired(rows: list[dict[str, Any]], a: str, b: str, frames: int, kinds: tuple[str, ...]) -> dict:
    """B vs A on the same questions (paired by seed and question id): difference and McNemar."""
    pairs = [
        (r["seed"], int(r["correct"][a]), int(r["correct"][b]))
        for r in rows
        if r["frames"] == frames and r["kind"] in kinds and a in r["correct"] and b in r["correct"]
    ]
    if not pairs:
        raise ValueError(f"no shared questions for {a!r} and {b!r} at {frames} frames")
    only_a = sum(x and not y for _, x, y in pairs)
    only_b = sum(y and not x for _, x, y in pairs)
    test = mcnemar(only_a, only_b)
    by_seed: dict[int, list[int]] = defaultdict(list)
    for s, x, y in pairs:
        by_seed[s].append(y - x)
    n = len(pairs)
    k_a, k_b = sum(x for _, x, _ in pairs), sum(y for _, _, y in pairs)
    ci_a, ci_b = wilson_interval(k_a, n), wilson_interval(k_b, n)
    return {
        "a": a,
        "b": b,
        "frames": frames,
        "n": n,
        "acc_a": _pct(k_a / n),
        "acc_b": _pct(k_b / n),
        "ci95_a": [_pct(ci_a[0]), _pct(ci_a[1])],
        "ci95_b": [_pct(ci_b[0]), _pct(ci_b[1])],
        "diff": _pct((only_b - only_a) / n),
        "a_only": only_a,
        "b_only": only_b,
        "diff_per_seed": {str(s): _pct(sum(v) / len(v)) for s, v in sorted(by_seed.items())},
        "test": test.method,
        "p": test.p_value,
    }


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error), in the input order."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    m, running, out = len(pvalues), 0.0, [0.0] * len(pvalues)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


ALPHA = 0.05  # a claim is supported when its Holm-adjusted McNemar p is below this


def _with_holm(tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for t, adj in zip(tests, holm([t["p"] for t in tests]), strict=True):
        t["p_holm"] = adj
        t["verdict"] = ("B > A" if t["diff"] > 0 else "B < A") if adj < ALPHA else "not shown"
    return tests


def sentence(t: dict[str, Any]) -> str:
    """One claim in words, as the docs state it: both accuracies with their Wilson 95% intervals,
    the paired difference, the discordant counts and McNemar's p (raw and Holm-adjusted)."""

    def acc(which: str) -> str:
        lo, hi = t[f"ci95_{which}"]
        return f"{t[f'acc_{which}']:.1f}% [{lo:.0f}, {hi:.0f}]"

    kind = "exact" if t["test"].startswith("exact") else "χ²"
    verdict = {"B > A": "higher", "B < A": "lower"}.get(t["verdict"], "no difference shown")
    return (
        f"{t['b']} vs {t['a']} at {t['frames']} frames: {acc('b')} vs {acc('a')}, "
        f"{t['diff']:+.1f} points (n = {t['n']} paired questions; {t['b_only']} right only "
        f"under the first, {t['a_only']} only under the second), McNemar ({kind}) "
        f"{_p_eq(t['p'])}, Holm {_p_eq(t['p_holm'])}: {verdict}"
    )


def _p_eq(p: float) -> str:
    return f"p = {_fmt_p(p)}" if p >= 1e-4 else "p < 1e-4"


# ---- claims in the docs -------------------------------------------------------------------------
# A doc holds generated blocks ``<!-- claims NAME VIEW -->`` ... ``<!-- /claims -->``; ``--docs``
# rewrites each from ``<results>/NAME.json``, so every comparative sentence in the docs carries
# the committed table's effect size, intervals and test. VIEW: ``all`` (every claim, supported
# first), ``supported`` (only those), or a claim-id prefix such as ``vcwe-``.
_BLOCK = re.compile(r"(<!-- claims (\S+) (\S+) -->\n)(.*?)(<!-- /claims -->)", re.S)


def claims_block(doc: dict[str, Any], view: str) -> str:
    """The generated text of one docs block (see :data:`_BLOCK`)."""
    seeds = ", ".join(str(x) for x in doc["seeds"])
    name = doc.get("name", "toylab")
    head = (
        f"*Generated by `python -m vlmctx_eval.experiments.toylab.stats --docs` from the `{name}` table "
        f"(training seeds {seeds}; learned kinds; McNemar on "
        f"the same questions, Holm over the table's {len(doc['claims'])} claims; called at "
        f"Holm p < {ALPHA}).*"
    )
    claims = doc["claims"]
    if view == "supported":
        claims = [t for t in claims if t["verdict"] != "not shown"]
    elif view != "all":
        claims = [t for t in claims if t["id"].startswith(view)]
    order = sorted(claims, key=lambda t: t["verdict"] == "not shown")  # supported first
    lines = [f"- `{t['id']}`: {sentence(t)}." for t in order] or ["- (no such claim in the table)"]
    return head + "\n\n" + "\n".join(lines) + "\n"


def update_docs(paths: list[Path], results: Path) -> list[str]:
    """Rewrite every claims block in ``paths`` from the tables in ``results``; returns the
    ``path: name view`` of each block rewritten. A block naming a table that has no claims
    (not written yet, or an older table) is left as it is."""
    done = []
    for path in paths:
        text = path.read_text()

        def fill(m: re.Match, path: Path = path) -> str:
            table = results / f"{m.group(2)}.json"
            doc = json.loads(table.read_text()) if table.exists() else {}
            if not doc.get("claims") or "verdict" not in doc["claims"][0]:
                return m.group(0)
            done.append(f"{path}: {m.group(2)} {m.group(3)}")
            return m.group(1) + "\n" + claims_block(doc, m.group(3)) + "\n" + m.group(5)

        new = _BLOCK.sub(fill, text)
        if new != text:
            path.write_text(new)
    return done


def analyse(
    rows: list[dict[str, Any]], claims_of: tuple[tuple[str, str, str, int], ...] = CLAIMS
) -> dict[str, Any]:
    """Every number the tables show: cells per group and kind, the claims (``claims_of``, those
    whose configurations and length are in the data), all-vs-stock tests."""
    labels = list(dict.fromkeys(lb for r in rows for lb in r["correct"]))
    frames = sorted({r["frames"] for r in rows})
    kinds = [k for k in (*LEARNED, *UNLEARNED) if any(r["kind"] == k for r in rows)]
    seeds = sorted({r["seed"] for r in rows})
    groups = {"learned": LEARNED, "unlearned": UNLEARNED, **{k: (k,) for k in kinds}}
    cells = {
        g: {lb: {str(f): cell(rows, lb, f, ks) for f in frames} for lb in labels}
        for g, ks in groups.items()
    }
    have = set(labels)
    claims = [
        dict(paired(rows, a, b, f, LEARNED), id=cid)
        for cid, a, b, f in claims_of
        if {a, b} <= have and f in frames
    ]
    vs_stock = (
        [paired(rows, BASELINE, lb, f, LEARNED) for lb in labels if lb != BASELINE for f in frames]
        if BASELINE in have
        else []
    )
    checkpoints = sorted({(r["seed"], r["checkpoint"]) for r in rows})
    return {
        "seeds": seeds,
        "checkpoints": {str(s): c for s, c in checkpoints},
        "frames": frames,
        "labels": labels,
        "kinds": kinds,
        "learned": list(LEARNED),
        "unlearned": list(UNLEARNED),
        "questions_per_cell": _per_cell(rows),
        "cells": cells,
        "claims": _with_holm(claims),
        "vs_stock": _with_holm(vs_stock),
    }


def _per_cell(rows: list[dict[str, Any]]) -> int:
    counts: dict[tuple, int] = defaultdict(int)
    for r in rows:
        counts[(r["seed"], r["kind"], r["frames"])] += 1
    return min(counts.values()) if counts else 0


# ---- tables and plot ----------------------------------------------------------------------------


def _fmt_p(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-4 else "<1e-4"


def _cell_table(doc: dict[str, Any], group: str, with_seeds: bool) -> list[str]:
    frames = [str(f) for f in doc["frames"]]
    head = "| scheme + pooling | " + " | ".join(frames) + " |"
    lines = [head, "|---|" + "---|" * len(frames)]
    for lb in doc["labels"]:
        row = doc["cells"][group][lb]
        txt = []
        for f in frames:
            c = row[f]
            if not c["n"]:  # no question of these kinds at this length
                txt.append("–")
                continue
            s = f"{c['acc']:.1f} [{c['ci95'][0]:.0f}, {c['ci95'][1]:.0f}]"
            if with_seeds and len(c["per_seed"]) > 1:
                s += " (" + "/".join(f"{v:.0f}" for v in c["per_seed"].values()) + ")"
            txt.append(s)
        lines.append(f"| {lb} | " + " | ".join(txt) + " |")
    return lines


def _acc_ci(t: dict[str, Any], which: str) -> str:
    lo, hi = t[f"ci95_{which}"]
    return f"{t[f'acc_{which}']:.1f} [{lo:.0f}, {hi:.0f}]"


def _test_table(tests: list[dict[str, Any]], with_id: bool) -> list[str]:
    multi = any(len(t["diff_per_seed"]) > 1 for t in tests)
    head = ["claim"] * with_id + [
        "A",
        "B",
        "frames",
        "n",
        "A % [95%]",
        "B % [95%]",
        "B − A",
        "only A / only B right",
        "McNemar p",
        "Holm p",
        f"Holm p < {ALPHA}",
    ]
    if multi:
        head.append("B − A per seed")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for t in tests:
        row = [f"`{t.get('id')}`"] * with_id + [
            t["a"],
            t["b"],
            str(t["frames"]),
            str(t["n"]),
            _acc_ci(t, "a"),
            _acc_ci(t, "b"),
            f"{t['diff']:+.1f}",
            f"{t['a_only']} / {t['b_only']}",
            _fmt_p(t["p"]) + (" (exact)" if t["test"].startswith("exact") else ""),
            _fmt_p(t["p_holm"]),
            t["verdict"],
        ]
        if multi:
            row.append("/".join(f"{v:+.0f}" for v in t["diff_per_seed"].values()))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _header(doc: dict[str, Any]) -> str:
    run = doc.get("run", {})
    name = doc.get("name", "toylab")
    rebuild = "" if name == "toylab" else f" eval/bench/results/{name}_predictions.jsonl.gz"
    ckpts = ", ".join(f"seed {s} `{c}`" for s, c in doc["checkpoints"].items())
    took = f" ({run['model_seconds'] / 60:.0f} min of model time)" if "model_seconds" in run else ""
    spread = ", (each seed's accuracy)" if len(doc["seeds"]) > 1 else ""
    return (
        f"Checkpoints, one per training seed (seed N also generated the questions): {ckpts}. "
        f"{doc['questions_per_cell']} questions per kind, length and seed; 16 frames is the "
        f"trained length. Command: `{run.get('command', 'vlmctx toylab run')}`{took}. "
        f"Per-question predictions: `{name}_predictions.jsonl.gz`; "
        f"`python -m vlmctx_eval.experiments.toylab.stats{rebuild}` rebuilds this file from them.\n\n"
        "Cells: exact-match accuracy in %, the mean over seeds, [Wilson 95% interval over the "
        f"pooled questions]{spread}. The interval covers question sampling, not the spread "
        "between training seeds."
    )


def markdown(doc: dict[str, Any]) -> str:
    """The committed table: headline with intervals, the claims' tests, the rest apart."""
    n_head = doc["questions_per_cell"] * len(doc["learned"]) * len(doc["seeds"])
    lines = [
        f"# {result_set(doc.get('name', 'toylab'))[0]}",
        "",
        _header(doc),
        "",
        f"## Headline: the kinds the model learned ({', '.join(doc['learned'])}), "
        f"{n_head} questions per cell",
        "",
        *_cell_table(doc, "learned", True),
        "",
        "## The comparisons the docs make (learned kinds, paired)",
        "",
        "McNemar's test on the same questions, paired by (seed, question); exact binomial below 25 "
        "discordant pairs, continuity-corrected chi-square otherwise. Holm: adjusted over the "
        f"{len(doc['claims'])} comparisons of this table. B − A in points; A and B with Wilson "
        "95% intervals over the same questions. Last column: the verdict at a Holm-adjusted "
        f"p < {ALPHA} ('not shown': no difference detected, which does not show there is none).",
        "",
        *(
            _test_table(doc["claims"], True)
            if doc["claims"]
            else ["(none of them is in this grid)"]
        ),
        "",
        f"## Not learned ({', '.join(doc['unlearned'])}): reported apart, not in the headline",
        "",
        *_cell_table(doc, "unlearned", True),
        "",
    ]
    for kind in doc["kinds"]:
        lines += [f"## `{kind}`", "", *_cell_table(doc, kind, False), ""]
    lines += [
        "## Every configuration vs `default + none` (learned kinds, paired)",
        "",
        f"Holm over all {len(doc['vs_stock'])} tests of this table.",
        "",
        *_test_table(doc["vs_stock"], False),
    ]
    return "\n".join(lines) + "\n"


def plot(doc: dict[str, Any], path: Path) -> None:
    """Headline accuracy vs frames with Wilson 95% bars, one panel per pooler."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pools = list(dict.fromkeys(lb.rsplit(" + ", 1)[1] for lb in doc["labels"]))
    fig, axes = plt.subplots(
        1, len(pools), figsize=(6 * len(pools), 4.5), sharey=True, squeeze=False
    )
    for ax, pool in zip(axes[0], pools, strict=True):
        for lb in doc["labels"]:
            scheme, _, p = lb.rpartition(" + ")
            if p != pool:
                continue
            cells = [doc["cells"]["learned"][lb][str(f)] for f in doc["frames"]]
            acc = [c["acc"] for c in cells]
            err = [
                [a - c["ci95"][0] for a, c in zip(acc, cells, strict=True)],
                [c["ci95"][1] - a for a, c in zip(acc, cells, strict=True)],
            ]
            ax.errorbar(doc["frames"], acc, yerr=err, marker="o", capsize=3, label=scheme)
        ax.set_xscale("log", base=2)
        ax.set(title=f"pooling: {pool}", xlabel="frames (16 = trained length)", ylim=(-2, 102))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"accuracy % on {', '.join(doc['learned'])} (Wilson 95%)")
    axes[0][-1].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"toy lab, seeds {', '.join(map(str, doc['seeds']))}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_results(
    rows: list[dict[str, Any]], results: Path, run: dict[str, Any], name: str = "toylab"
) -> dict:
    """Analyse ``rows`` and write ``<name>.json``, ``<name>.md`` and (with matplotlib) the plot;
    ``name`` also picks the claims (:data:`RESULT_SETS`)."""
    doc = {"name": name, "run": run, **analyse(rows, result_set(name)[1])}
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    (results / f"{name}.md").write_text(markdown(doc))
    with contextlib.suppress(ImportError):  # matplotlib is the [eval] extra; tables need none
        plot(doc, results / f"{name}.png")
    return doc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Rebuild toylab.{json,md,png} from the predictions.")
    p.add_argument("predictions", nargs="?", default=str(PREDICTIONS))
    p.add_argument("--results", default=None, help="output folder (default: beside the file)")
    p.add_argument(
        "--sentences",
        action="store_true",
        help="also print each documented claim as a sentence (what docs/toylab.md quotes)",
    )
    p.add_argument(
        "--docs",
        nargs="*",
        default=None,
        metavar="FILE",
        help="rewrite the generated claims blocks (<!-- claims NAME VIEW -->) in these files "
        "(none given: README.md, docs/toylab.md, docs/positions.md) from the tables written",
    )
    args = p.parse_args(argv)
    path = Path(args.predictions)
    try:
        rows = read_rows(path)
    except (OSError, ValueError, EOFError) as exc:
        print(f"error: cannot read predictions {path}: {exc}", file=sys.stderr)
        return 2
    if not rows or not all({"seed", "kind", "frames", "correct"} <= set(r) for r in rows):
        print(f"error: {path} holds no toylab prediction rows", file=sys.stderr)
        return 2
    results = Path(args.results) if args.results else path.parent
    name = name_of(path)
    old = results / f"{name}.json"
    run = json.loads(old.read_text()).get("run", {}) if old.exists() else {}
    doc = write_results(rows, results, run, name)
    print(f"wrote {results / f'{name}.md'}")
    if args.sentences:
        for t in doc["claims"]:
            print(f"- `{t['id']}`: {sentence(t)}")
    if args.docs is not None:
        root = Path(__file__).resolve().parents[3]
        files = [Path(f) for f in args.docs] or [
            root / "README.md",
            root / "docs" / "toylab.md",
            root / "docs" / "positions.md",
        ]
        for line in update_docs([f for f in files if f.exists()], results):
            print(f"updated {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
