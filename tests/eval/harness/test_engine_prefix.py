"""`VideoLM.chat(..., assistant_prefix=...)` on a real tiny model: the prompt ends with the prefix
after the generation prompt, and generation continues from it (MMLongBench's ``Answer:``)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from vlmctx.config import ContextConfig
from vlmctx.engine import VideoLM

PREFIX = "Answer:"


@pytest.fixture(scope="module")
def lm() -> VideoLM:
    torch.set_num_threads(1)
    return VideoLM.load("tiny-qwen2_vl", ContextConfig(sampler_params={"n": 8}))


def _content() -> list:
    return ["Look at this picture.", Image.new("RGB", (56, 56), (200, 30, 30)), "What colour?"]


def test_prompt_ends_with_the_prefix_after_the_generation_prompt(lm: VideoLM) -> None:
    tok = lm.loaded.processor.tokenizer
    plain = lm._interleaved_inputs(_content())["input_ids"][0].tolist()
    pref = lm._interleaved_inputs(_content(), PREFIX)["input_ids"][0].tolist()
    prefix_ids = tok(PREFIX, add_special_tokens=False)["input_ids"]
    assert pref == plain + prefix_ids  # same prompt, then exactly the prefix's tokens
    assert tok.decode(pref).endswith("assistant\n" + PREFIX)
    assert lm.count_tokens(_content(), PREFIX) == len(plain) + len(prefix_ids)
    assert lm.count_tokens(_content()) == len(plain)


def test_generation_continues_after_the_prefix(lm: VideoLM) -> None:
    ans = lm.chat(_content(), max_new_tokens=3, assistant_prefix=PREFIX)
    assert ans.total_tokens == lm.count_tokens(_content(), PREFIX)
    inputs = lm._interleaved_inputs(_content(), PREFIX).to(lm.device)
    with torch.inference_mode():
        logits = lm.loaded.model(**inputs).logits
    first = int(logits[0, -1].argmax())  # greedy next token given a prompt ending in "Answer:"
    tok = lm.loaded.processor.tokenizer
    assert ans.new_tokens >= 1
    first_text = tok.decode([first], skip_special_tokens=True)
    assert first_text and ans.text.startswith(first_text), (ans.text, first_text)
