"""Compare the lmms-eval ports with lmms-eval's own functions read from a source tree (e.g. the
unpacked PyPI wheel: ``pip download lmms-eval==0.7.3 --no-deps`` then unzip), without importing
lmms-eval (its task modules import torch, datasets, decord, ... at the top): the functions are
taken out of the files by their syntax tree and run on the generative corpora.

    python -m tests.eval.tasks.lmms_source_check /path/to/lmms_eval
"""

from __future__ import annotations

import ast
import random
import re
import sys
import types
from typing import Any

from tests.eval.tasks.charades_sta.test_charades_fidelity import CORPUS as TIME_CORPUS
from tests.eval.tasks.longvideobench.test_lvb_fidelity import CORPUS as LVB_CORPUS
from tests.eval.tasks.replies import mcq_replies
from vlmctx_eval.tasks.charades_sta import official as cs
from vlmctx_eval.tasks.common.mcq_extract import extract_mcq_answer
from vlmctx_eval.tasks.longvideobench import official as lvb


def functions(path: str, names: set[str], ns: dict[str, Any]) -> dict[str, Any]:
    """``ns`` with the top-level functions ``names`` of the file at ``path`` defined in it."""
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    body = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    exec(compile(ast.Module(body=body, type_ignores=[]), path, "exec"), ns)  # noqa: S102
    return ns


def main(root: str) -> None:
    tasks = f"{root.rstrip('/')}/tasks/"
    mcq = functions(
        tasks + "_task_utils/mcq_extract.py",
        {"extract_mcq_answer"},
        {"re": re, "List": list, "Optional": Any, **_consts(tasks)},
    )
    for letters in ("ABCD", "ABCDE"):
        corpus = mcq_replies(letters, n=2400, seed=7)
        ok = sum(
            extract_mcq_answer(r, tuple(letters)) == mcq["extract_mcq_answer"](r, list(letters))
            for r in corpus
        )
        print(f"extract_mcq_answer [{letters}]: {ok}/{len(corpus)}")
    t = functions(
        tasks + "charades_sta/utils.py", {"extract_time", "_time_to_seconds", "iou"}, {"re": re}
    )
    ok = sum(_spans(cs.extract_time(r)) == _spans(t["extract_time"](r)) for r in TIME_CORPUS)
    print(f"charades_sta extract_time: {ok}/{len(TIME_CORPUS)}")
    stub = types.SimpleNamespace(choice=lambda xs: "RANDOM")  # the random draw as a sentinel
    p = functions(
        tasks + "longvideobench/utils.py",
        {"parse_multi_choice_response"},
        {"re": re, "random": stub},
    )
    ok = sum(
        (lvb.lmms_extract(r) or "RANDOM") == p["parse_multi_choice_response"](r, list("ABCDE"), {})
        for r in LVB_CORPUS
    )
    print(f"longvideobench parse_multi_choice_response: {ok}/{len(LVB_CORPUS)}")


def _consts(tasks: str) -> dict[str, Any]:
    """The module-level constants ``extract_mcq_answer`` reads."""
    ns: dict[str, Any] = {}
    with open(tasks + "_task_utils/mcq_extract.py", encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    body = [n for n in tree.body if isinstance(n, ast.Assign)]
    exec(compile(ast.Module(body=body, type_ignores=[]), "consts", "exec"), ns)  # noqa: S102
    return {k: v for k, v in ns.items() if k.startswith("_")}


def _spans(spans: list[Any]) -> list[list[float]]:
    return [list(s) for s in spans]


if __name__ == "__main__":
    random.seed(0)
    main(sys.argv[1])
