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
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TINY_PREFIX = "tiny-"
_TEMPLATES = Path(__file__).parent / "templates"
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


def _text_config(tok: Any, **rope: Any) -> dict[str, Any]:
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


def _qwen_parts(family: str) -> tuple[Any, Any]:
    """Tokenizer + processor for the two M-RoPE families (shared Qwen2-VL processors)."""
    from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    tok = build_tokenizer(
        QWEN_SPECIALS,
        {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"},
        eos="<|im_end|>",
        pad="<|endoftext|>",
    )
    # 28x28 pixels = one LLM token; frames of up to 4x4 tokens keep tests fast.
    size = {"shortest_edge": 28 * 28, "longest_edge": 112 * 112}
    img = Qwen2VLImageProcessor(size=size)
    vid = Qwen2VLVideoProcessor(size=size)
    if family == "qwen2_5_vl":
        from transformers import Qwen2_5_VLProcessor as Proc
    else:
        from transformers import Qwen2VLProcessor as Proc
    template = (_TEMPLATES / "qwen2_vl.jinja").read_text()
    return tok, Proc(
        image_processor=img, tokenizer=tok, video_processor=vid, chat_template=template
    )


def _qwen2_vl() -> tuple[Any, Any]:
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    tok, proc = _qwen_parts("qwen2_vl")
    cfg = Qwen2VLConfig(
        text_config=_text_config(tok, mrope_section=[4, 2, 2]),
        vision_config=dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2),
        image_token_id=tok.convert_tokens_to_ids("<|image_pad|>"),
        video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"),
    )
    return Qwen2VLForConditionalGeneration(cfg), proc


def _qwen2_5_vl() -> tuple[Any, Any]:
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tok, proc = _qwen_parts("qwen2_5_vl")
    vision = dict(
        depth=2,
        hidden_size=32,
        intermediate_size=64,
        num_heads=2,
        out_hidden_size=64,
        fullatt_block_indexes=[1],
        window_size=56,
        tokens_per_second=2,
    )
    cfg = Qwen2_5_VLConfig(
        text_config=_text_config(tok, mrope_section=[4, 2, 2]),
        vision_config=vision,
        image_token_id=tok.convert_tokens_to_ids("<|image_pad|>"),
        video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"),
    )
    return Qwen2_5_VLForConditionalGeneration(cfg), proc


def _llava_onevision() -> tuple[Any, Any]:
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessor,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
    )

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]
    tok = build_tokenizer(
        specials,
        {"image_token": "<image>", "video_token": "<video>"},
        "<|im_end|>",
        "<|endoftext|>",
    )
    side = 56  # 4x4 patches of 14 -> 16 image tokens; video frames pooled 2x2 -> 4 (+1 newline)
    vision = dict(
        model_type="siglip_vision_model",
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=side,
        patch_size=14,
    )
    cfg = LlavaOnevisionConfig(
        text_config=dict(_text_config(tok), model_type="qwen2"),
        vision_config=vision,
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        video_token_index=tok.convert_tokens_to_ids("<video>"),
        image_grid_pinpoints=[
            [side, side],
            [side, 2 * side],
            [2 * side, side],
            [2 * side, 2 * side],
        ],
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
    )
    img = LlavaOnevisionImageProcessor(
        size={"height": side, "width": side}, image_grid_pinpoints=cfg.image_grid_pinpoints
    )
    vid = LlavaOnevisionVideoProcessor(size={"height": side, "width": side})
    proc = LlavaOnevisionProcessor(
        image_processor=img,
        tokenizer=tok,
        video_processor=vid,
        num_image_tokens=(side // 14) ** 2,
        vision_feature_select_strategy="full",
        chat_template=(_TEMPLATES / "llava_onevision.jinja").read_text(),
    )
    return LlavaOnevisionForConditionalGeneration(cfg), proc


def _internvl() -> tuple[Any, Any]:
    from transformers import (
        GotOcr2ImageProcessor,
        InternVLConfig,
        InternVLForConditionalGeneration,
        InternVLProcessor,
        InternVLVideoProcessor,
    )

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>"]
    specials.append("<video>")
    extra = {
        "start_image_token": "<img>",
        "end_image_token": "</img>",
        "context_image_token": "<IMG_CONTEXT>",
        "video_token": "<video>",
    }
    tok = build_tokenizer(specials, extra, "<|im_end|>", "<|endoftext|>")
    side = 56  # 4x4 patches of 14, pixel-shuffled by 0.5 -> 4 tokens per frame
    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=[side, side],
        patch_size=[14, 14],
    )
    cfg = InternVLConfig(
        text_config=dict(_text_config(tok), model_type="qwen2"),
        vision_config=vision,
        image_token_id=tok.convert_tokens_to_ids("<IMG_CONTEXT>"),
        image_seq_length=4,
        downsample_ratio=0.5,
    )
    img = GotOcr2ImageProcessor(
        size={"height": side, "width": side}, crop_to_patches=False, max_patches=1
    )
    vid = InternVLVideoProcessor(size={"height": side, "width": side})
    proc = InternVLProcessor(
        image_processor=img,
        tokenizer=tok,
        video_processor=vid,
        image_seq_length=4,
        chat_template=(_TEMPLATES / "internvl.jinja").read_text(),
    )
    return InternVLForConditionalGeneration(cfg), proc


TINY_BUILDERS: dict[str, Callable[[], tuple[Any, Any]]] = {
    "qwen2_vl": _qwen2_vl,
    "qwen2_5_vl": _qwen2_5_vl,
    "llava_onevision": _llava_onevision,
    "internvl": _internvl,
}


def is_tiny(name: str) -> bool:
    return name.startswith(TINY_PREFIX)


def tiny_path(name: str, seed: int = 0) -> Path:
    """Build (once) and return the folder of checkpoint ``tiny-<family>``.

    The folder holds what a hub checkpoint holds (config, safetensors weights, tokenizer,
    processor configs, chat template), so it loads through ``from_pretrained``.
    """
    import torch

    from vlmctx.errors import UnsupportedModelError

    family = name[len(TINY_PREFIX) :]
    if family not in TINY_BUILDERS:
        known = ", ".join(TINY_PREFIX + f for f in TINY_BUILDERS)
        raise UnsupportedModelError(f"no tiny model {name!r}; known: {known}")
    import transformers

    key = hashlib.sha1(f"{_VERSION}-{transformers.__version__}-{seed}".encode()).hexdigest()[:10]
    out = cache_root() / "tiny" / f"{family}-{key}"
    if (out / "done.json").exists():
        return out
    log.info("building %s into %s", name, out)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    torch.manual_seed(seed)
    model, processor = TINY_BUILDERS[family]()
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
