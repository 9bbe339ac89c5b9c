"""Optional LLM judge for MMLongBench DocVQA through any OpenAI-compatible endpoint (stdlib only).

MMLongBench V1.1 (arXiv 2505.10610, repository EdinburghNLP/MMLongBench) scores DocVQA with an LLM
judge: a binary ``[Score]: x points`` verdict (or JSON ``answer_score``) for single answers, and an
F1 over ``student_answer_count`` / ``covered_count`` for list answers. The parsing and the F1 rule
below follow the reference; the prompt wording is ours (the official prompt file was not available
when this was written), so scores from this judge are labelled ``doc_qa_llm`` and documented as
"same protocol, own prompt". The rule-based ``doc_qa`` (the paper's metric) needs no judge.

Summarization (the paper's ``gpt4-flu-f1``, ``scripts/eval_gpt4_summ.py``) uses three judge calls per
summary: fluency (``{"fluency": 0|1}``), recall over the expert key points (``{"recall": n}``) and
precision of the summary's sentences against the expert summary (``{"precision": p,
"sentence_count": s}``); then recall = n / len(claims), precision = p / s, F1 = 2PR / (P + R) and
``flu_f1 = F1 x fluency``. The protocol, the JSON keys, the reply parsing (last ``{...}`` in the
reply, else a fenced ``json`` block) and the arithmetic follow that script; the three prompts below
(``SUMM_*_PROMPT``) are OUR OWN wording, not the official prompt text (the official prompts carry
long worked examples we did not copy), so these scores are labelled ``judge_flu_f1`` (not
``gpt4-flu-f1``) and are comparable to the paper's only in protocol. Where the official script
silently skips a summary whose reply does not parse, we re-ask up to ``parse_retries`` times and
then record the failure as a per-sample scoring error (counted in the results, never dropped).
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from vlmctx.errors import ConfigError, DataFormatError

SINGLE_PROMPT = """You are grading a student's answer to a question about a document.
Compare the student's answer with the reference answer. Give 1 point if the student's answer
conveys the same answer as the reference (ignore formatting, units written differently, and extra
explanation that does not contradict it); otherwise give 0 points. If the reference says the
question is not answerable, give 1 point only if the student also says so.

Question: {question}
Reference answer: {reference}
Student answer: {prediction}

Reply in exactly this format:
[Scoring Rationale]: <one or two sentences>
[Score]: <0 or 1> points
[JSON]: {{"answer_score": <0 or 1>}}"""

LIST_PROMPT = """You are grading a student's answer to a question whose reference answer is a list.
Count how many separate items the student's answer gives, and how many of the reference items are
covered by the student's answer (same meaning, any order or formatting).

Question: {question}
Reference answer (list): {reference}
Student answer: {prediction}

Reply in exactly this format:
[Rationale]: <one or two sentences>
[JSON]: {{"student_answer_count": <int>, "covered_count": <int>}}"""


# ---- summarization judge: OUR OWN prompt wording (see the module docstring) -----------------------
SUMM_FLUENCY_PROMPT = """You are an impartial judge of writing quality. Decide whether the text below
is fluent: coherent, not repetitive (not even in paraphrase), grammatical and not gibberish.
Score 0 if the text is incoherent, repetitive, empty or only a heading such as "Summary:".
Score 1 if it is coherent, non-repetitive and grammatical; a last sentence cut off mid-way is
acceptable and still scores 1.

Text: "{text}"

Think briefly, then end your reply with the score as JSON: {{"fluency": 0}} or {{"fluency": 1}}."""

SUMM_RECALL_PROMPT = """You are an impartial judge of a summary. Below are the key points of an
expert-written summary, numbered, and a summary written by a model. A key point counts as present
when its factual content is mostly supported by the model's summary (if a key point holds several
facts, most of them must be there). Count the key points that are present.

Key points:
{keypoints}

Model summary: "{summary}"

Think briefly (list which numbers are present), then end your reply with JSON:
{{"recall": <number of key points present>}}"""

SUMM_PRECISION_PROMPT = """You are an impartial judge of a summary. Split the model's summary into
sentences. A sentence is supported when the expert summary supports its facts (minor details that
the expert summary omits are acceptable; contradictions are not). Count the model's sentences and
the supported ones.

Expert summary: "{expert_summary}"

Model summary: "{summary}"

Think briefly, then end your reply with JSON:
{{"precision": <number of supported sentences>, "sentence_count": <number of sentences>}}"""


def parse_last_json(text: str) -> dict[str, Any] | None:
    """The official ``parse_json``: the last ``{...}`` in the reply, else a fenced json block."""
    matches = re.findall(r"\{.*?\}", text, re.DOTALL)
    candidates = [matches[-1]] if matches else []
    candidates += re.findall(r"```json(.+?)```", text, re.DOTALL)[-1:]
    for cand in candidates:
        try:
            obj = json.loads(cand)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def _number(obj: dict[str, Any], key: str) -> float:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key!r} is {value!r}, not a number")
    return float(value)


def check_fluency(obj: dict[str, Any]) -> dict[str, float]:
    flu = _number(obj, "fluency")
    if flu not in (0.0, 1.0):
        raise ValueError(f"fluency must be 0 or 1, got {flu}")
    return {"fluency": flu}


def check_recall(obj: dict[str, Any], n_claims: int) -> dict[str, float]:
    found = _number(obj, "recall")
    if not 0 <= found <= n_claims:
        raise ValueError(f"recall {found} outside 0..{n_claims} key points")
    return {"recall": found}


def check_precision(obj: dict[str, Any]) -> dict[str, float]:
    found, count = _number(obj, "precision"), _number(obj, "sentence_count")
    if count < 0 or not 0 <= found <= max(count, 0):
        raise ValueError(f"precision {found} of {count} sentences is impossible")
    return {"precision": found, "sentence_count": count}


def summ_scores(
    fluency: float,
    recall_found: float,
    n_claims: int,
    precision_found: float,
    sentence_count: float,
) -> dict[str, float]:
    """``scripts/eval_gpt4_summ.py`` arithmetic, in [0, 1] (reports multiply the means by 100)."""
    rec = recall_found / n_claims if n_claims > 0 else 0.0
    prec = precision_found / sentence_count if sentence_count > 0 else 0.0
    f1 = 2 * rec * prec / (rec + prec) if rec + prec > 0 else 0.0
    return {
        "judge_fluency": fluency,
        "judge_recall": rec,
        "judge_precision": prec,
        "judge_f1": f1,
        "judge_flu_f1": f1 * fluency,
    }


def strip_summary_prefix(output: str) -> str:
    """The official step before judging: drop one leading ``Summary:`` and strip."""
    return (output[8:] if output.startswith("Summary:") else output).strip()


@dataclass
class JudgeStats:
    """Counts written into the results so judge trouble is visible, never silent."""

    calls: int = 0
    http_retries: int = 0
    malformed_replies: int = 0
    failed_samples: int = 0
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "http_retries": self.http_retries,
            "malformed_replies": self.malformed_replies,
            "failed_samples": self.failed_samples,
        }


def extract_json(text: str, keys: list[str]) -> dict[str, Any]:
    """The object after ``[JSON]:``; else each ``"key": number`` found by regex."""
    m = re.search(r"\[JSON\]:.*?(\{)", text, re.DOTALL)
    if m:
        try:
            obj, _ = json.JSONDecoder().raw_decode(text[m.start(1) :])
            if isinstance(obj, dict):
                return obj
        except json.JSONDecodeError:
            pass
    out: dict[str, Any] = {}
    for key in keys:
        km = re.search(rf'"{key}"\s*:\s*(-?\d+(?:\.\d+)?)', text)
        if km:
            out[key] = float(km.group(1))
    return out


def single_score(reply: str) -> float:
    """``[Score]: x points`` -> x; else JSON ``answer_score``; else 0."""
    m = re.search(r"\[Score\]:\s*(\d+)\s*points?", reply)
    if m:
        return float(m.group(1))
    data = extract_json(reply, ["answer_score"])
    return float(data.get("answer_score", 0.0))


def list_score(reply: str, n_gold: int) -> float:
    """F1 of covered items: recall = covered / n_gold, precision = covered / student count."""
    data = extract_json(reply, ["student_answer_count", "covered_count"])
    if "student_answer_count" not in data or "covered_count" not in data:
        return 0.0
    covered, count = float(data["covered_count"]), float(data["student_answer_count"])
    if covered <= 0 or count <= 0 or n_gold <= 0:
        return 0.0
    recall, precision = covered / n_gold, covered / count
    return max(min(2 * recall * precision / (recall + precision), 1.0), 0.0)


class OpenAIJudge:
    """Chat completions against ``{base_url}/chat/completions`` (OpenAI, vLLM, SGLang, ...)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "LLM_JUDGE_KEY",
        timeout: float = 120,
        backoff: float = 0.5,
        parse_retries: int = 2,
    ) -> None:
        if not base_url or not model:
            raise ConfigError("the LLM judge needs a URL and a model: --judge-url, --judge-model")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.key = os.environ.get(api_key_env, "")
        self.timeout = timeout
        self.backoff = backoff
        self.parse_retries = parse_retries
        self.stats = JudgeStats()

    def complete(
        self,
        prompt: str,
        max_tokens: int = 256,
        retries: int = 5,
        temperature: float | None = None,
        system: str | None = None,
    ) -> str:
        """One completion (``system``: an optional system message before the user ``prompt``);
        transport errors and replies without a message are retried."""
        messages = [{"role": "user", "content": prompt}]
        if system is not None:
            messages.insert(0, {"role": "system", "content": system})
        body: dict[str, Any] = {"model": self.model, "max_tokens": max_tokens, "messages": messages}
        if temperature is not None:
            body["temperature"] = temperature
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        last: Exception | None = None
        for attempt in range(retries):
            if attempt:
                self.stats.http_retries += 1
                time.sleep(min(5.0, self.backoff * 2 ** (attempt - 1)))
            self.stats.calls += 1
            req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    reply = json.loads(resp.read().decode())
                return str(reply["choices"][0]["message"]["content"] or "")
            except (
                urllib.error.URLError,
                TimeoutError,
                KeyError,
                IndexError,
                TypeError,
                ValueError,
            ) as exc:
                last = exc
        raise ConfigError(
            f"LLM judge at {self.url} failed {retries} times ({last}); check --judge-url, "
            "--judge-model and the API key variable"
        )

    def ask_json(
        self, prompt: str, check: Any, parse: Any = parse_last_json, **kwargs: Any
    ) -> dict[str, float]:
        """Ask, read the reply with ``parse`` (default: its last JSON object) and validate it
        with ``check``; re-ask a malformed reply up to ``parse_retries`` times, then raise
        :class:`DataFormatError` with the last reply. ``kwargs`` go to :meth:`complete`."""
        reply, why = "", ""
        for _ in range(1 + self.parse_retries):
            reply = self.complete(prompt, **kwargs)
            obj = parse(reply)
            try:
                if obj is None:
                    raise ValueError("no JSON object in the reply")
                return check(obj)
            except ValueError as exc:
                why = str(exc)
                self.stats.malformed_replies += 1
        raise DataFormatError(
            f"judge reply malformed after {1 + self.parse_retries} tries ({why}): {reply[:200]!r}"
        )

    def summarization(self, output: str, expert: str, claims: list[str]) -> dict[str, float]:
        """Fluency x F1 of one summary (three judge calls, settings of the official script)."""
        text = strip_summary_prefix(output)
        kw = {"max_tokens": 4096, "temperature": 0.1}
        keypoints = "\n".join(f"{i + 1}. {c}" for i, c in enumerate(claims))
        try:
            flu = self.ask_json(SUMM_FLUENCY_PROMPT.format(text=text), check_fluency, **kw)
            rec = self.ask_json(
                SUMM_RECALL_PROMPT.format(keypoints=keypoints, summary=text),
                lambda o: check_recall(o, len(claims)),
                **kw,
            )
            prec = self.ask_json(
                SUMM_PRECISION_PROMPT.format(expert_summary=expert, summary=text),
                check_precision,
                **kw,
            )
        except (DataFormatError, ConfigError) as exc:
            self.stats.failed_samples += 1
            raise DataFormatError(f"summarization judge: {exc}") from exc
        out = summ_scores(
            flu["fluency"], rec["recall"], len(claims), prec["precision"], prec["sentence_count"]
        )
        out.update(
            judge_recall_found=rec["recall"],
            judge_n_claims=float(len(claims)),
            judge_precision_found=prec["precision"],
            judge_sentence_count=prec["sentence_count"],
        )
        return out

    def doc_qa(self, question: str, reference: Any, prediction: str, is_list: bool) -> float:
        """The V1.1 ``doc_qa_llm`` score of one prediction, in [0, 1]."""
        if is_list:
            from vlmctx_eval.tasks.common.text_metrics import parse_list_answer

            prompt = LIST_PROMPT.format(
                question=question, reference=reference, prediction=prediction
            )
            return list_score(self.complete(prompt), len(parse_list_answer(reference)))
        prompt = SINGLE_PROMPT.format(question=question, reference=reference, prediction=prediction)
        return single_score(self.complete(prompt))
