"""Compare the official ports with the benchmarks' own functions read from their source files
(taken out by syntax tree, so that the files' heavy imports are not needed), on the generative
corpora. Give the folders of the repositories at the commits the ports cite:

    python -m tests.eval.tasks.official_source_check --parse-answer DIR --mlvu DIR --lvbench DIR
"""

from __future__ import annotations

import argparse
import re

from tests.eval.tasks.lmms_source_check import functions
from tests.eval.tasks.mlvu.test_mlvu_fidelity import CORPUS as MLVU_CORPUS
from tests.eval.tasks.mlvu.test_mlvu_fidelity import GOLDS, JUDGE_REPLIES
from tests.eval.tasks.replies import mcq_replies
from vlmctx_eval.tasks.lvbench import official as lvbench
from vlmctx_eval.tasks.mlvu import official as mlvu
from vlmctx_eval.tasks.videomme import official as vm


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parse-answer", required=True, help="thanku-all/parse_answer checkout")
    ap.add_argument("--mlvu", required=True, help="JUNJIE99/MLVU checkout")
    ap.add_argument("--lvbench", required=True, help="THUDM/LVBench checkout")
    a = ap.parse_args()
    corpus = mcq_replies("ABCD", n=2400, seed=26)
    f = functions(
        f"{a.parse_answer}/eval_your_results.py", {"extract_characters_regex"}, {"re": re}
    )
    ok = sum(vm.official_extract(r) == f["extract_characters_regex"](r) for r in corpus)
    print(f"Video-MME extract_characters_regex: {ok}/{len(corpus)}")
    f = functions(
        f"{a.mlvu}/evaluation/multiple_choice_evaluation/choice_bench.py", {"check_ans"}, {}
    )
    pairs = [(r, g) for r in MLVU_CORPUS for g in GOLDS]
    ok = sum(mlvu.check_ans(r, g) == f["check_ans"](r, g) for r, g in pairs)
    print(f"MLVU check_ans: {ok}/{len(pairs)}")
    f = functions(f"{a.mlvu}/evaluation/generation_evaluation/calculate.py", {"extract_scores"}, {})
    ok = 0
    for text in JUDGE_REPLIES:
        try:
            want = f["extract_scores"](text)
        except ValueError:
            want = "stops"
        try:
            got = mlvu.official_judge_scores(text, mlvu.SSC_KEYS)
        except ValueError:
            got = "stops"
        ok += got == want
    print(f"MLVU calculate.py extract_scores: {ok}/{len(JUDGE_REPLIES)}")
    f = functions(f"{a.lvbench}/lvbench/utils/answer_util.py", {"polish_answer"}, {})
    ok = sum(lvbench.polish_answer(r) == f["polish_answer"](r) for r in corpus)
    print(f"LVBench polish_answer: {ok}/{len(corpus)}")


if __name__ == "__main__":
    main()
