"""Optional LLM judge for MMLongBench DocVQA through any OpenAI-compatible endpoint (stdlib only).

MMLongBench V1.1 (arXiv 2505.10610, repository EdinburghNLP/MMLongBench) scores DocVQA with an LLM
judge: a binary ``[Score]: x points`` verdict (or JSON ``answer_score``) for single answers, and an
F1 over ``student_answer_count`` / ``covered_count`` for list answers. The parsing and the F1 rule
below follow the reference; the prompt wording is ours (the official prompt file was not available
when this was written), so scores from this judge are labelled ``doc_qa_llm`` and documented as
"same protocol, own prompt". The rule-based ``doc_qa`` (the paper's metric) needs no judge.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from typing import Any

from vlmctx.errors import ConfigError

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
        self, base_url: str, model: str, api_key_env: str = "LLM_JUDGE_KEY", timeout: float = 120
    ) -> None:
        if not base_url or not model:
            raise ConfigError("the LLM judge needs judge_url and judge_model (task arguments)")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.key = os.environ.get(api_key_env, "")
        self.timeout = timeout

    def complete(self, prompt: str, max_tokens: int = 256, retries: int = 5) -> str:
        body = {"model": self.model, "messages": [{"role": "user", "content": prompt}]}
        body["max_tokens"] = max_tokens
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        last: Exception | None = None
        for attempt in range(retries):
            req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    reply = json.loads(resp.read().decode())
                return str(reply["choices"][0]["message"]["content"] or "")
            except (urllib.error.URLError, TimeoutError, KeyError, ValueError) as exc:
                last = exc
                time.sleep(min(5.0, 0.5 * 2**attempt))
        raise ConfigError(f"LLM judge at {self.url} failed {retries} times: {last}")

    def doc_qa(self, question: str, reference: Any, prediction: str, is_list: bool) -> float:
        """The V1.1 ``doc_qa_llm`` score of one prediction, in [0, 1]."""
        if is_list:
            from eval.tasks.mmlongbench.metrics import parse_list_answer

            prompt = LIST_PROMPT.format(
                question=question, reference=reference, prediction=prediction
            )
            return list_score(self.complete(prompt), len(parse_list_answer(reference)))
        prompt = SINGLE_PROMPT.format(question=question, reference=reference, prediction=prediction)
        return single_score(self.complete(prompt))
