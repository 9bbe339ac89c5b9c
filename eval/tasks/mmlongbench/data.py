"""Read MMLongBench's published files and build samples with the official prompts.

MMLongBench (arXiv 2505.10610) ships one file per dataset and length (8K-128K tokens, already built
at that length: never truncate). This module reads them from a local copy of the Hugging Face
dataset ``ZhaoweiWang/MMLongBench`` (``mmlb_data/`` and ``mmlb_image/``), selects the official
evaluation subset (``transformers.set_seed(42)`` before each file, then ``random.sample`` over
sorted unique ids for VRAG/NIAH, ``random.shuffle`` for ICL, ``Dataset.shuffle(seed)`` i.e. a numpy
``default_rng(seed).permutation`` for summarization and DocVQA) and renders the official prompt
templates. ``<image>`` markers in the rendered text are replaced, in order, by the record's images.

ICL exemplar choice uses the same RNG stream in one process; the official run drew it inside
``datasets.map(num_proc=N)`` workers, so exact ICL prompts match only for a single worker (see
docs/eval.md).
"""

from __future__ import annotations

import glob
import json
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from vlmctx.errors import DataFormatError
from vlmctx_eval.harness.records import ImageRef, Sample
from vlmctx_eval.tasks.base import LoadResult

ANSWER_FMT = "Write your answer in the following format:\nAnswer: [answer]\n\n{context}\n\nQuestion: {question}"
VRAG_TEMPLATE = (
    "Use the given documents to write a concise and short answer to the question about the entity "
    "shown in the image. " + ANSWER_FMT
)
VH_TEMPLATE = (
    "You are given a set of images. Please answer the question in Yes or No based on the given "
    "images. " + ANSWER_FMT
)
NIAH_TEMPLATE = (
    "You are given interleaved text and images. Please answer the question based on the given "
    "text and images. " + ANSWER_FMT
)
NIAH_MC_TEMPLATE = (
    "You are given interleaved text and images. Please answer the question with the option's "
    "letter (A, B, etc.) based on the given text and images. " + ANSWER_FMT
)
ICL_TEMPLATE = (
    "You need to recognize entities in images. Use the provided mapping from the image to label to "
    'assign a label to the test image. Only output "label: {{label}}" and nothing else.\n\n'
    "Training examples:\n{context}\n\nNow classify this image: {question}"
)
GOV_TEMPLATE = (
    "You are given a government report from U.S. Government Accountability Office (GAO), and you "
    "are tasked to summarize the report. Write a concise summary (around 550 words) organized in "
    "multiple paragraphs. Where applicable, the summary should contain a short description of why "
    "GAO did this study, what GAO found, and what GAO recommends.\n\nGovernment Report:\n{context}"
    "\n\nNow please summarize the report."
)
LEXSUM_TEMPLATE = (
    "You are given the legal documents in a civil rights lawsuit, and you are tasked to summarize "
    "the case. Write a concise summary of one paragraph (200 to 250 words). The summary should "
    "contain a short description of the background, the parties involved, and the outcomes of the "
    "case.\n\nLegal documents:\n{context}\n\nNow please summarize the case."
)
DOCQA_TEMPLATE = (
    "You are given a document with text and images, and a question. Answer the question as "
    "concisely as you can, using a single phrase or sentence if possible. If the question cannot "
    "be answered based on the information in the article, write 'Not answerable.' " + ANSWER_FMT
)


@dataclass(frozen=True)
class DatasetSpec:
    """One MMLongBench dataset: file name pattern, loader, metric, official size and gen length."""

    key: str
    category: str
    file: str  # under mmlb_data/, with {k} for the length in K tokens
    loader: str
    metric: str
    n: int = 100
    gen: int = 128
    prefix: str = "Answer:"


def _specs() -> dict[str, DatasetSpec]:
    s = [
        DatasetSpec("infoseek", "VRAG", "vrag/infoseek_K{k}_dep3.jsonl", "vrag", "sub_em"),
        DatasetSpec("viquae", "VRAG", "vrag/viquae_K{k}_dep6.jsonl", "vrag", "sub_em"),
        DatasetSpec("vh_single", "NIAH", "NIAH/vh_single_test_1000_K{k}_dep6.jsonl", "vh", "acc"),
        DatasetSpec("vh_multi", "NIAH", "NIAH/vh_multi_test_1000_K{k}_dep3.jsonl", "vh", "acc"),
    ]
    niah = [
        ("retrieval-text", 6, "niah_text", "sub_em"),
        ("counting-text", 3, "niah_text", "soft_acc"),
        ("reasoning-text", 3, "niah_text", "sub_em"),
        ("retrieval-image", 6, "niah_mc", "mc_acc"),
        ("counting-image", 3, "niah_count", "soft_acc"),
        ("reasoning-image", 6, "niah_mc", "mc_acc"),
    ]
    for name, dep, loader, metric in niah:
        file = f"NIAH/{name}_test_K{{k}}_dep{dep}.jsonl"
        s.append(DatasetSpec(f"mm_niah_{name}", "NIAH", file, loader, metric, n=50))
    for name in ("cars196", "food101", "inat2021", "sun397"):
        s.append(
            DatasetSpec(name, "ICL", f"ICL/{name}_K{{k}}.json", "icl", "cls_acc", prefix="label:")
        )
    for key, file in (("gov-report", "gov"), ("multi-lexsum", "lexsum")):
        path = f"summ/{file}_K{{k}}.jsonl"
        s.append(DatasetSpec(key, "Summ", path, file, "rougeLsum_f1", gen=384, prefix="Summary:"))
    for name in ("longdocurl", "mmlongdoc", "slidevqa"):
        s.append(DatasetSpec(name, "DocVQA", f"documentQA/{name}_K{{k}}.jsonl", "docqa", "doc_qa"))
    return {d.key: d for d in s}


DATASETS = _specs()
CATEGORIES = ("VRAG", "NIAH", "ICL", "Summ", "DocVQA")
LENGTHS = (8, 16, 32, 64, 128)


def resolve_file(data_dir: str, spec: DatasetSpec, k: int) -> str | None:
    """The file for ``spec`` at ``k``K; tolerates another ``_depN`` suffix than the configs'."""
    path = os.path.join(data_dir, spec.file.format(k=k))
    if os.path.exists(path):
        return path
    stem = spec.file.format(k=k).rsplit("_dep", 1)[0]
    hits = sorted(glob.glob(os.path.join(data_dir, glob.escape(stem) + "_dep*.jsonl")))
    return hits[0] if hits else None


def read_rows(path: str, result: LoadResult) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) of a JSONL file; malformed lines go to ``result.errors``."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                result.error(f"{os.path.basename(path)}:{n + 1}", f"malformed line: {exc}")
                continue
            rows.append((n, rec))
    return rows


def sample_by_id(rows: list[tuple[int, dict]], n: int | None, seed: int) -> list:
    """Official VRAG/NIAH subset: ``n`` sampled ids (seeded), every row with them, file order."""
    if n is None:
        return rows
    ids = sorted({str(r["id"]) for _, r in rows})
    keep = set(random.Random(seed).sample(ids, min(n, len(ids))))
    return [(i, r) for i, r in rows if str(r["id"]) in keep]


def sample_shuffle(rows: list, n: int | None, seed: int) -> list:
    """Official Summ/DocVQA subset: ``Dataset.shuffle(seed).select(range(n))``."""
    if n is None:
        return rows
    perm = np.random.default_rng(seed).permutation(len(rows))
    return [rows[int(i)] for i in perm[: min(n, len(rows))]]


def interleave(text: str, images: list[str], image_root: str) -> list[str | ImageRef]:
    """Split rendered text on ``<image>`` and put the images, in order, in the gaps."""
    parts = text.split("<image>")
    if len(parts) - 1 != len(images):
        raise DataFormatError(
            f"{len(parts) - 1} <image> markers but {len(images)} images in the record"
        )
    content: list[str | ImageRef] = []
    for i, part in enumerate(parts):
        if part:
            content.append(part)
        if i < len(images):
            content.append(ImageRef(os.path.join(image_root, images[i])))
    return content


# ---- per-loader prompt builders: record -> (template, context, question, images, target, meta)
def _vrag(r: dict) -> tuple:
    ctx = "\n\n".join(f"Document (Title: {c['title']}): {c['text']}" for c in r["ctxs"])
    return VRAG_TEMPLATE, ctx, "<image>" + r["question"], [r["image"]], r["answer"], {}


def _vh(r: dict) -> tuple:
    ctx = "\n".join(["<image>"] * len(r["ctxs"]))
    return VH_TEMPLATE, ctx, r["question"], list(r["ctxs"]), r["answer"], {}


def _niah_text(r: dict) -> tuple:
    ctx = "\n\n".join(p["text"] for p in r["ctxs"])
    return NIAH_TEMPLATE, ctx, r["question"], list(r["image_list"]), r["answer"], {}


def _niah_count(r: dict) -> tuple:
    ctx = "\n\n".join(p["text"] for p in r["ctxs"])
    images = list(r["image_list"]) + list(r["needle_image_list"])
    return NIAH_TEMPLATE, ctx, r["question"], images, r["answer"], {}


def _niah_mc(r: dict) -> tuple:
    ctx = "\n\n".join(p["text"] for p in r["ctxs"])
    q = r["question"] + "".join(f"\n{chr(65 + i)}. <image>" for i in range(len(r["choices_image"])))
    images = list(r["image_list"]) + list(r["choices_image"])
    return NIAH_MC_TEMPLATE, ctx, q, images, r["answer"], {}


def _pages(image_list: list[str], with_page: bool) -> str:
    if with_page:
        items = [
            f"Document {p.split('/')[-2]:.15} (page {p.split('page')[1].split('.')[0]}): <image>"
            for p in image_list
        ]
    else:
        items = [f"Document {p.split('/')[-2]:.15}: <image>" for p in image_list]
    return "\n\n".join(items)


def _gov(r: dict) -> tuple:
    summ = r["summary"]
    if isinstance(summ, list):
        summ = "\n\n".join(a["section_title"] + ":\n" + "\n".join(a["paragraphs"]) for a in summ)
    imgs = list(r["image_list"])
    return GOV_TEMPLATE, _pages(imgs, True), "", imgs, summ, {}


def _lexsum(r: dict) -> tuple:
    imgs = list(r["image_list"])
    return LEXSUM_TEMPLATE, _pages(imgs, True), "", imgs, r["summary"], {}


def _docqa(r: dict) -> tuple:
    q = f"Based on Document {r['doc_name']:.15}, answer the following question. " + r["question"]
    imgs = list(r["page_list"])
    meta = {"answer_format": r["answer_format"], "question": q}
    return DOCQA_TEMPLATE, _pages(imgs, False), q, imgs, r["answer"], meta


BUILDERS: dict[str, Callable[[dict], tuple]] = {
    "vrag": _vrag,
    "vh": _vh,
    "niah_text": _niah_text,
    "niah_count": _niah_count,
    "niah_mc": _niah_mc,
    "gov": _gov,
    "lexsum": _lexsum,
    "docqa": _docqa,
}


def _make(spec: DatasetSpec, k: int, row: int, rec: dict, image_root: str, built: tuple) -> Sample:
    template, ctx, question, images, target, meta = built
    text = template.format(context=ctx, question=question)
    return Sample(
        id=f"{spec.key}/K{k}/{row}",
        target=target,
        content=interleave(text, images, image_root),
        max_new_tokens=spec.gen,
        meta={
            "dataset": spec.key,
            "category": spec.category,
            "length": k,
            "doc_id": str(rec.get("id", "")),
            "depth": rec.get("depth"),
            **meta,
        },
    )


def load_jsonl_dataset(
    spec: DatasetSpec, path: str, k: int, image_root: str, sample: bool, seed: int
) -> LoadResult:
    """Samples of one JSONL file (every loader but ICL), official subset and order."""
    result = LoadResult()
    rows = read_rows(path, result)
    if spec.key == "viquae":  # the official loader drops image paths with a double quote
        rows = [(i, r) for i, r in rows if '"' not in str(r.get("image", ""))]
    n = spec.n if sample else None
    try:
        if spec.loader in ("gov", "lexsum", "docqa"):
            rows = sample_shuffle(rows, n, seed)
        else:
            rows = sample_by_id(rows, n, seed)
    except KeyError as exc:
        result.error(os.path.basename(path), f"record without {exc}; cannot take the subset")
        return result
    for i, rec in rows:
        try:
            built = BUILDERS[spec.loader](rec)
            result.samples.append(_make(spec, k, i, rec, image_root, built))
        except (KeyError, TypeError, IndexError, DataFormatError) as exc:
            msg = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            result.error(f"{os.path.basename(path)}:{i + 1}", msg)
    return result


def _icl_pairs(data: dict, sample: bool, seed: int) -> Iterator[tuple[int, dict, list]]:
    exemplars = {dom: d["exemplar_list"] for dom, d in data.items()}
    tests = [(dom, ex) for dom, d in data.items() for ex in d["test_example"]]
    order = list(range(len(tests)))
    rng = random.Random(seed)
    if sample:
        rng.shuffle(order)
        order = order[:100]
    for idx in order:
        dom, ex = tests[idx]
        chosen = [list(rnd) for rnd in rng.choice(exemplars[dom])]  # copy: shuffled in place
        for rnd in chosen:
            rng.shuffle(rnd)
        yield idx, ex, [item for rnd in chosen for item in rnd]


def load_icl(spec: DatasetSpec, path: str, k: int, image_root: str, sample: bool, seed: int):
    """Samples of an ICL ``.json`` file: exemplars as ``<image>\\nlabel: N``, then the test image."""
    result = LoadResult()
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        pairs = list(_icl_pairs(data, sample, seed))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        result.error(os.path.basename(path), f"malformed ICL file: {exc!r}")
        return result
    for idx, ex, demos in pairs:
        try:
            ctx = "\n\n".join(f"<image>\nlabel: {d['id']}" for d in demos)
            images = [d["image"] for d in demos] + [ex["image"]]
            built = (ICL_TEMPLATE, ctx, "<image>", images, ex["answer"], {})
            result.samples.append(_make(spec, k, idx, ex, image_root, built))
        except (KeyError, TypeError, DataFormatError) as exc:
            result.error(f"{os.path.basename(path)}:test_example[{idx}]", str(exc))
    return result
