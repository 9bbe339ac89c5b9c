"""Print each port's agreement with the transcribed source rule on the generative corpora
(the N/N figures of issue 26): ``python -m tests.eval.tasks.agreement``."""

from __future__ import annotations

from tests.eval.tasks.charades_sta import test_charades_fidelity as cs_t
from tests.eval.tasks.common import test_mcq_extract as mcq_t
from tests.eval.tasks.longvideobench import test_lvb_fidelity as lvb_t
from tests.eval.tasks.lvbench import test_lvbench_fidelity as lvbench_t
from tests.eval.tasks.mlvu import test_mlvu_fidelity as mlvu_t
from tests.eval.tasks.replies import mcq_replies
from tests.eval.tasks.videomme import test_videomme_fidelity as vm_t
from vlmctx_eval.tasks.charades_sta import official as cs
from vlmctx_eval.tasks.common.mcq_extract import extract_mcq_answer
from vlmctx_eval.tasks.longvideobench import official as lvb
from vlmctx_eval.tasks.lvbench import official as lvbench
from vlmctx_eval.tasks.mlvu import official as mlvu
from vlmctx_eval.tasks.videomme import official as vm


def _spans(fn, reply: str) -> list[list[float]]:
    return [list(s) for s in fn(reply)]


def rows() -> list[tuple[str, int, int]]:
    """(what, agreeing, compared) per port."""
    mcq = mcq_replies("ABCD", n=2400, seed=7)
    return [
        (
            "Video-MME official extract_characters_regex",
            sum(vm.official_extract(r) == vm_t.oracle_extract(r) for r in vm_t.CORPUS),
            len(vm_t.CORPUS),
        ),
        (
            "MLVU official check_ans (reply x gold)",
            sum(
                mlvu.check_ans(r, g) == mlvu_t.oracle_check_ans(r, g)
                for r in mlvu_t.CORPUS
                for g in mlvu_t.GOLDS
            ),
            len(mlvu_t.CORPUS) * len(mlvu_t.GOLDS),
        ),
        (
            "LongVideoBench lmms-eval parse_multi_choice_response",
            sum(
                (lvb.lmms_extract(r) or None) == lvb_t.oracle_parse(r, list("ABCDE"), {})
                for r in lvb_t.CORPUS
            ),
            len(lvb_t.CORPUS),
        ),
        (
            "LVBench official polish_answer",
            sum(lvbench.polish_answer(r) == lvbench_t.oracle_polish(r) for r in lvbench_t.CORPUS),
            len(lvbench_t.CORPUS),
        ),
        (
            "Charades-STA lmms-eval extract_time",
            sum(
                _spans(cs.extract_time, r) == _spans(cs_t.oracle_extract_time, r)
                for r in cs_t.CORPUS
            ),
            len(cs_t.CORPUS),
        ),
        (
            "lmms-eval extract_mcq_answer (Video-MME/MLVU/LVBench)",
            sum(extract_mcq_answer(r, tuple("ABCD")) == mcq_t.oracle(r, list("ABCD")) for r in mcq),
            len(mcq),
        ),
    ]


if __name__ == "__main__":
    for what, ok, n in rows():
        print(f"{what}: {ok}/{n}")
