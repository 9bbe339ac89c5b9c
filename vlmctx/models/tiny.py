"""Tiny, randomly initialised checkpoints of each supported family, built locally with no download.

``tiny-<family>`` (e.g. ``tiny-qwen2_vl``) names a real Hugging Face model of that family with a
shrunk config (2 layers, hidden 64), a byte-level tokenizer built on the spot that carries the
family's special tokens and chat template, and the family's real image/video processors. The
checkpoint is written once to a cache folder and then loaded with ``from_pretrained`` exactly like a
hub checkpoint, so tests and offline runs go through the same code path as real models.

The weights are random (seeded): a tiny model answers with arbitrary tokens. It exists to exercise
the machinery end to end, not to be right.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TINY_PREFIX = "tiny-"
TEMPLATES = Path(__file__).parent / "templates"
_VERSION = "1"  # bump when a tiny recipe changes, so caches are rebuilt

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


def cache_root() -> Path:
    """Where generated tiny checkpoints live (``$VLMCTX_CACHE`` or ``~/.cache/vlmctx``)."""
    return Path(os.environ.get("VLMCTX_CACHE", Path.home() / ".cache" / "vlmctx"))


def build_tokenizer(specials: list[str], extra: dict[str, str], eos: str, pad: str) -> Any:
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


def text_config(tok: Any, **rope: Any) -> dict[str, Any]:
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


def tiny_names() -> list[str]:
    """``tiny-<family>`` for every registered adapter (each builds its own tiny model)."""
    from vlmctx.models.base import ADAPTERS

    return [TINY_PREFIX + f for f in ADAPTERS.names()]


def is_tiny(name: str) -> bool:
    return name.startswith(TINY_PREFIX)


def tiny_path(name: str, seed: int = 0) -> Path:
    """Build (once) and return the folder of checkpoint ``tiny-<family>``.

    The folder holds what a hub checkpoint holds (config, safetensors weights, tokenizer,
    processor configs, chat template), so it loads through ``from_pretrained``.
    """
    import torch

    from vlmctx.errors import UnsupportedModelError
    from vlmctx.models.base import ADAPTERS

    family = name[len(TINY_PREFIX) :]
    if family not in ADAPTERS:
        known = ", ".join(tiny_names())
        raise UnsupportedModelError(f"no tiny model {name!r}; known: {known}")
    import transformers

    key = hashlib.sha1(f"{_VERSION}-{transformers.__version__}-{seed}".encode()).hexdigest()[:10]
    out = cache_root() / "tiny" / f"{family}-{key}"
    if (out / "done.json").exists():
        return out
    log.info("building %s into %s", name, out)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    torch.manual_seed(seed)
    model, processor = ADAPTERS.create(family).build_tiny()
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    model.generation_config.eos_token_id = processor.tokenizer.eos_token_id
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    (tmp / "done.json").write_text(json.dumps({"name": name, "seed": seed}))
    try:
        tmp.rename(out)
    except OSError:  # another process won the race: use its copy
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return out
