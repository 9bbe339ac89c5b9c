"""Writes a tiny MMLongBench tree in the official file formats, with predictions whose scores are
computed by hand in the comments (used by the MMLongBench and runner tests)."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image


def _img(root: Path, rel: str) -> str:
    p = root / "mmlb_image" / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if not p.exists():
        Image.new("RGB", (8, 8), (len(rel) * 7 % 255, 90, 140)).save(p)
    return rel


def _jsonl(root: Path, rel: str, rows: list[dict]) -> None:
    p = root / "mmlb_data" / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _niah(root: Path, qid: str, answer, extra: dict | None = None) -> dict:
    img = _img(root, f"mm-niah/{qid}.jpg")
    ctxs = [{"type": "text", "text": "Some haystack text."}, {"type": "image", "text": "<image>"}]
    return {"id": qid, "question": f"Question {qid}?", "answer": answer, "ctxs": ctxs,
            "image_list": [img], **(extra or {})}  # fmt: skip


def write_mmlb(root: Path) -> dict[str, str]:
    """Write every dataset at 8K; return sample_id -> prediction (expected scores below)."""
    preds: dict[str, str] = {}
    # VRAG: infoseek 1/2 correct = 50; viquae 1/1 = 100 -> VRAG 75
    doc = [{"title": "T", "text": "passage", "doc_id": "d1"}]
    _jsonl(root, "vrag/infoseek_K8_dep3.jsonl", [
        {"id": "infoseek-1", "question": "Where?", "image": _img(root, "infoseek/a.jpg"),
         "answer": ["Paris", "Paris, France"], "ctxs": doc, "depth": 0.0},
        {"id": "infoseek-2", "question": "Who?", "image": _img(root, "infoseek/b.jpg"),
         "answer": [["Ada Lovelace"], ["Lovelace"]], "ctxs": doc, "depth": 0.5},
    ])  # fmt: skip
    preds |= {"infoseek/K8/0": "Answer: The answer is Paris.", "infoseek/K8/1": "Answer: Babbage"}
    _jsonl(root, "vrag/viquae_K8_dep6.jsonl", [
        {"id": "viquae-1", "question": "What?", "image": _img(root, "viquae/c.jpg"),
         "answer": ["Eiffel Tower"], "ctxs": doc},
    ])  # fmt: skip
    preds["viquae/K8/0"] = "It is the eiffel tower"
    # VH single: answers Y N Y N; preds Yes, unsure (default 1 -> wrong), unsure (1 -> right), No
    # -> 75. VH multi: both wrong -> 0, flipped at report time -> 100.
    vh = [_img(root, f"vh/{i}.jpg") for i in range(3)]
    rows = [{"id": f"vh{i}", "question": "For the image with a cat, is there a dog?", "answer": a,
             "ctxs": vh} for i, a in enumerate(["Yes", "No", "Yes", "No"])]  # fmt: skip
    _jsonl(root, "NIAH/vh_single_test_1000_K8_dep6.jsonl", rows)
    preds |= {"vh_single/K8/0": "Yes", "vh_single/K8/1": "I cannot tell",
              "vh_single/K8/2": "I cannot tell", "vh_single/K8/3": "Answer: No."}  # fmt: skip
    _jsonl(root, "NIAH/vh_multi_test_1000_K8_dep3.jsonl", rows[:1] + rows[2:3])
    preds |= {"vh_multi/K8/0": "No", "vh_multi/K8/1": "no"}
    # MM-NIAH: retrieval 100/100 -> 100; counting 100/0 -> 50; reasoning 0/100 -> 50
    _jsonl(root, "NIAH/retrieval-text_test_K8_dep6.jsonl", [_niah(root, "rt", "blue whale")])
    preds["mm_niah_retrieval-text/K8/0"] = "Answer: The blue whale."
    _jsonl(root, "NIAH/counting-text_test_K8_dep3.jsonl", [_niah(root, "ct", [2, 0, 1])])
    preds["mm_niah_counting-text/K8/0"] = "Answer: [1, 1, 1]"  # sums match (official rule)
    _jsonl(root, "NIAH/reasoning-text_test_K8_dep3.jsonl", [_niah(root, "st", "42")])
    preds["mm_niah_reasoning-text/K8/0"] = "Answer: 41"
    choices = {"choices_image": [_img(root, "ch/a.jpg"), _img(root, "ch/b.jpg")]}
    _jsonl(root, "NIAH/retrieval-image_test_K8_dep6.jsonl", [_niah(root, "ri", 1, choices)])
    preds["mm_niah_retrieval-image/K8/0"] = "Answer: B"
    needle = {"needle_image_list": [_img(root, "needle/n.jpg")]}
    ci = _niah(root, "ci", [3], needle)
    ci["question"] = "How many cats in <image>?"
    _jsonl(root, "NIAH/counting-image_test_K8_dep3.jsonl", [ci])
    preds["mm_niah_counting-image/K8/0"] = "Answer: [2]"
    _jsonl(root, "NIAH/reasoning-image_test_K8_dep6.jsonl", [_niah(root, "si", 0, choices)])
    preds["mm_niah_reasoning-image/K8/0"] = "The answer is A"
    # NIAH = mean(75, 100, 100, 50, 50) = 75
    # ICL: cars196 1/2 = 50, others 100 -> 87.5
    for name, n in (("cars196", 2), ("food101", 1), ("inat2021", 1), ("sun397", 1)):
        demos = [[{"id": 0, "image": _img(root, f"{name}/d0.jpg")},
                  {"id": 1, "image": _img(root, f"{name}/d1.jpg")}]]  # fmt: skip
        tests = [{"id": i, "image": _img(root, f"{name}/t{i}.jpg"), "answer": i} for i in range(n)]
        p = root / "mmlb_data" / "ICL" / f"{name}_K8.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps({name: {"exemplar_list": [demos], "test_example": tests}}))
        for i in range(n):
            preds[f"{name}/K8/{i}"] = "label: 0"
    # Summ: gov exact -> 100; lexsum LCS 3/4 -> 75 -> Summ 87.5
    gov_pages = [_img(root, "gov-report/bg_pdf_img/gao-18-107/gao-18-107_page0.jpg")]
    summary = [{"section_title": "Why", "paragraphs": ["GAO studied cats."]},
               {"section_title": "What", "paragraphs": ["Cats are fine."]}]  # fmt: skip
    _jsonl(root, "summ/gov_K8.jsonl", [{"id": "g1", "image_list": gov_pages, "summary": summary}])
    preds["gov-report/K8/0"] = "Summary: Why:\nGAO studied cats.\n\nWhat:\nCats are fine."
    lex_pages = [_img(root, "lexsum/bg_pdf_img/case-1/case-1_page3.jpg")]
    _jsonl(root, "summ/lexsum_K8.jsonl",
           [{"id": "l1", "image_list": lex_pages, "summary": "cat dog cow fish"}])  # fmt: skip
    preds["multi-lexsum/K8/0"] = "cat dog bird fish"
    # DocVQA: Integer with unit and comma 100; Python-repr List 75; String F1 0.4 -> 71.67
    pages = [_img(root, "docqa/doc-abcdefghijklmnopq/doc-abcdefghijklmnopq_page0.jpg")]
    for name, ans, fmt, pred in (
        ("longdocurl", "1,234", "Integer", "Answer: 1234 kg"),
        ("mmlongdoc", "['White', '10%']", "List", "Answer: White people, 10%"),
        ("slidevqa", "Less well-off", "Str", "Answer: less well off"),
    ):
        _jsonl(root, f"documentQA/{name}_K8.jsonl", [
            {"id": f"{name}_1", "doc_name": "doc-abcdefghijklmnopq", "question": "Q?",
             "answer": ans, "answer_format": fmt, "page_list": pages, "ans_page_list": [0]},
        ])  # fmt: skip
        preds[f"{name}/K8/0"] = pred
    return preds


EXPECTED = {
    "VRAG": 75.0,
    "NIAH": 75.0,
    "ICL": 87.5,
    "Summ": 87.5,
    "DocVQA": (100 + 75 + 40) / 3,
}
EXPECTED["Avg"] = sum(EXPECTED.values()) / 5
