"""Tiny, randomly initialised checkpoints of each supported family, built locally with no download.

``tiny-<family>`` (e.g. ``tiny-qwen2_vl``) names a real Hugging Face model of that family with a
shrunk config (2 layers, hidden 64), a byte-level tokenizer built on the spot that carries the
family's special tokens and chat template, and the family's real image/video processors. The
checkpoint is written once to a cache folder and then loaded with ``from_pretrained`` exactly like a
hub checkpoint, so tests and offline runs go through the same code path as real models.

``shape-<card>`` (e.g. ``shape-Qwen2.5-VL-3B-Instruct``) is a *shape-true* model: an architecture
card's real widths (hidden, heads, KV heads, head_dim, M-RoPE sections, vision widths, patch /
merge / window sizes, a full-attention block after a window block, DeepStack taps) with one
language layer (a hybrid keeps one of each layer type) and two vision blocks, the byte tokenizer's
small vocabulary, and the family's real processor with the card's settings; built and cached the
same way. It checks at real head_dim what the tiny models check at head_dim 16.

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
from typing import TYPE_CHECKING, Any

from vlmctx.errors import UnsupportedModelError
from vlmctx.models.cards import cards
from vlmctx.models.contract import ADAPTERS
from vlmctx.models.names import SHAPE_PREFIX, TINY_PREFIX
from vlmctx.registry import did_you_mean
from vlmctx.runtime.cache import cache_root

if TYPE_CHECKING:
    from transformers import PreTrainedModel, ProcessorMixin

    from vlmctx.models.cards import Card

log = logging.getLogger(__name__)

_VERSION = "1"  # bump when a tiny recipe changes, so caches are rebuilt


def tiny_names() -> list[str]:
    """``tiny-<family>`` for every registered adapter (each builds its own tiny model)."""
    return [TINY_PREFIX + f for f in ADAPTERS.names()]


def tiny_path(name: str, seed: int = 0) -> Path:
    """Build (once) and return the folder of checkpoint ``tiny-<family>``.

    The folder holds what a hub checkpoint holds (config, safetensors weights, tokenizer,
    processor configs, chat template), so it loads through ``from_pretrained``.
    """
    import torch

    family = name[len(TINY_PREFIX) :]
    if family not in ADAPTERS:
        known = ", ".join(tiny_names())
        raise UnsupportedModelError(f"no tiny model {name!r}; known: {known}")
    import transformers

    key = hashlib.sha1(f"{_VERSION}-{transformers.__version__}-{seed}".encode()).hexdigest()[:10]
    out = cache_root() / "tiny" / f"{family}-{key}"

    def build() -> tuple[PreTrainedModel, ProcessorMixin]:
        torch.manual_seed(seed)
        return ADAPTERS.create(family).tiny.build()

    return _write_checkpoint(out, name, seed, build)


def _write_checkpoint(
    out: Path, name: str, seed: int, build: Callable[[], tuple[PreTrainedModel, ProcessorMixin]]
) -> Path:
    """Save ``build()``'s (model, processor) into ``out`` once, atomically, and return ``out``."""
    if (out / "done.json").exists():
        return out
    log.info("building %s into %s", name, out)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    model, processor = build()
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


# ---- shape-true test models: a card's real widths, few layers ------------------------------------
SHAPE_TEXT_LAYERS = 1  # language layers kept (a hybrid keeps one of each layer type)
SHAPE_VISION_BLOCKS = 2  # vision blocks kept (Qwen2.5-VL: one window block, then one full block)


def shape_names() -> list[str]:
    """``shape-<card>`` (the hub id's last part) for every card whose family has an adapter."""
    return [SHAPE_PREFIX + c.hub_id.split("/")[-1] for c in cards() if c.family in ADAPTERS]


def shape_card(name: str) -> Card:
    """The architecture card behind ``shape-<card>`` (case-insensitive)."""
    wanted = name[len(SHAPE_PREFIX) :].lower()
    for c in cards():
        if c.hub_id.split("/")[-1].lower() == wanted:
            return c
    near = did_you_mean(
        name, shape_names(), n=3, cutoff=0.5, template="did you mean {}?", quote=False
    )
    hint = near or f"known: {', '.join(shape_names())}"
    raise UnsupportedModelError(f"no shape-true model {name!r}; {hint}")


def shape_config(card: Card, tiny_config: dict[str, Any]) -> dict[str, Any]:
    """``card``'s config with its real widths (hidden, heads, KV heads, head_dim, rope sections,
    vision widths, patch/merge/window sizes) and few layers; vocabulary and special-token ids
    from ``tiny_config`` (the family's tiny model, which uses the same byte tokenizer).

    Language: ``SHAPE_TEXT_LAYERS`` layer(s); a hybrid's ``layer_types`` keeps one layer of each
    type (Qwen3.5: one Gated DeltaNet layer, then one full-attention layer). Vision:
    ``SHAPE_VISION_BLOCKS`` blocks; window attention keeps its last block as a full-attention
    block, DeepStack taps the first blocks (as many as it had, at most all).
    Shrinking goes by config keys, never by family name.
    """
    import copy

    cfg = copy.deepcopy(card.config)
    text, vision = cfg["text_config"], cfg.get("vision_config", {})
    text["num_hidden_layers"] = SHAPE_TEXT_LAYERS
    if "layer_types" in text:
        kinds = list(dict.fromkeys(text["layer_types"]))
        text["num_hidden_layers"] = max(SHAPE_TEXT_LAYERS, len(kinds))
        text["layer_types"] = (kinds * text["num_hidden_layers"])[: text["num_hidden_layers"]]
    text.pop("max_window_layers", None)
    tiny_text = tiny_config["text_config"]
    for key in ("vocab_size", "pad_token_id", "eos_token_id", "bos_token_id"):
        text[key] = tiny_text.get(key)
    depth_key = "depth" if "depth" in vision else "num_hidden_layers"
    if depth_key in vision:
        vision[depth_key] = SHAPE_VISION_BLOCKS
    if "fullatt_block_indexes" in vision:
        vision["fullatt_block_indexes"] = [SHAPE_VISION_BLOCKS - 1]
    if "deepstack_visual_indexes" in vision:
        n = min(len(vision["deepstack_visual_indexes"]), SHAPE_VISION_BLOCKS)
        vision["deepstack_visual_indexes"] = list(range(n))
    for key, value in tiny_config.items():
        if key.endswith(("_token_id", "_token_index")):
            cfg[key] = value
    return cfg


def byte_token_ids(family: str) -> dict[str, Any]:
    """The special-token ids (``*_token_id`` / ``*_token_index`` config entries) of the family's
    byte tokenizer, read from ``tiny-<family>``: what a card's config must carry when its model
    runs with the local tokenizer (the card holds the real tokenizer's ids)."""
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(tiny_path(TINY_PREFIX + family)).to_dict()
    return {k: v for k, v in cfg.items() if k.endswith(("_token_id", "_token_index"))}


def shape_path(name: str, seed: int = 0) -> Path:
    """Build (once) and return the folder of the shape-true checkpoint ``shape-<card>``: random
    weights at the card's real widths (:func:`shape_config`), the family's real processor with
    the card's settings and the local byte tokenizer (``Card.build_processor``)."""
    import transformers

    card = shape_card(name)
    recipe = json.dumps(
        [
            _VERSION,
            SHAPE_TEXT_LAYERS,
            SHAPE_VISION_BLOCKS,
            card.config,
            card.processor,
            transformers.__version__,
            seed,
        ],
        sort_keys=True,
    )
    key = hashlib.sha1(recipe.encode()).hexdigest()[:10]
    out = cache_root() / "shape" / f"{card.hub_id.split('/')[-1]}-{key}"

    def build() -> tuple[PreTrainedModel, ProcessorMixin]:
        import torch

        tiny = transformers.AutoConfig.from_pretrained(tiny_path(TINY_PREFIX + card.family))
        processor = card.build_processor()
        tiny_tok = transformers.AutoTokenizer.from_pretrained(tiny_path(TINY_PREFIX + card.family))
        if tiny_tok.get_vocab() != processor.tokenizer.get_vocab():
            raise UnsupportedModelError(
                f"card {card.hub_id}'s tokenizer differs from tiny-{card.family}'s: align "
                "the card's processor.tokenizer with the family's tiny tokenizer"
            )
        config = getattr(transformers, card.config_class)(**shape_config(card, tiny.to_dict()))
        torch.manual_seed(seed)
        return getattr(transformers, card.model_class)(config), processor

    return _write_checkpoint(out, card.hub_id.split("/")[-1], seed, build)
