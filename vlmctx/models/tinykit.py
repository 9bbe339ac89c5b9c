"""Building blocks of the locally built test models: the byte-level tokenizer with a family's
special tokens, the shared tiny text config, and the chat templates. A leaf module (imports
nothing of ``vlmctx.models``), read by the family adapters, the tiny factories and the cards."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers.tokenization_utils_base import PreTrainedTokenizerBase

TEMPLATES = Path(__file__).parent / "templates"

# Text model shared by every tiny family: a 2-layer Qwen2 with head_dim 16.
_TEXT = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=32768,
    rms_norm_eps=1e-6,
    tie_word_embeddings=False,
)


def build_tokenizer(
    specials: list[str], extra: dict[str, str], eos: str, pad: str
) -> PreTrainedTokenizerBase:
    """A byte-level BPE tokenizer (no merges: one token per byte) with the given special tokens.

    Special tokens take ids 0..k-1 so they are stable; ``extra`` names family-specific attributes
    (``video_token``, ``start_image_token``...) that HF processors read from the tokenizer.
    """
    from tokenizers import AddedToken
    from transformers.convert_slow_tokenizer import bytes_to_unicode
    from transformers.models.qwen2.tokenization_qwen2 import Qwen2Tokenizer

    alphabet = list(bytes_to_unicode().values())
    vocab = {tok: i for i, tok in enumerate(specials + alphabet)}
    tok = Qwen2Tokenizer(
        vocab=vocab,
        merges=[],
        eos_token=eos,
        pad_token=pad,
        unk_token=pad,
        extra_special_tokens=extra,
    )
    tok.add_tokens([AddedToken(s, special=True) for s in specials])
    return tok


def text_config(tok: PreTrainedTokenizerBase, **rope: Any) -> dict[str, Any]:
    """The shared tiny text model's config for tokenizer ``tok`` (``rope``: extra rope parameters)."""
    params = {"rope_type": "default", "rope_theta": 1_000_000.0, **rope}
    return dict(
        _TEXT,
        vocab_size=len(tok),
        bos_token_id=None,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        rope_parameters=params,
    )


QWEN_SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
