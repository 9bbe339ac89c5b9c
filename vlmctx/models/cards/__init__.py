"""Architecture cards: published facts of real checkpoints, for planning without their weights.

One JSON file per family (``<family>.json``, package data) holds the config values that matter for
memory and positions (text and vision dims, heads, KV heads, rope theta and M-RoPE sections, max
positions, vision patch / merge / window sizes), the processor settings (pixel limits, patch,
temporal patch), the parameter count, and per checkpoint the trained visual window and trained
context. ``defaults`` are shared by a family's cards and each card overrides them; ``sources``
says where every group of numbers comes from ("config.json of <hub id>", a paper's arXiv id and
section, "computed", or "assumed"), and ``unconfirmed`` names the values that were recalled but
not re-checked against the published file. The values were written without hub access; anyone
who has a checkpoint's ``config.json`` can check a card with :func:`verify`.

``card(hub_id)`` and ``cards()`` read them; ``Card.hf_config()`` builds the family's real
transformers config, ``Card.build_processor()`` its real processor with a locally built
byte-level tokenizer (``vlmctx.models.tinykit.build_tokenizer``: visual-token counts are exact, text
is counted one token per byte, an upper bound), and ``Card.count_parameters()`` instantiates the
model on the meta device (no memory) to count its parameters.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from vlmctx.errors import ConfigError, UnsupportedModelError
from vlmctx.models.tinykit import TEMPLATES, build_tokenizer
from vlmctx.registry import did_you_mean

__all__ = ["Card", "card", "cards", "verify"]

_DIR = Path(__file__).parent
_GROUPS = ("config", "processor", "parameters", "visual_window", "trained_context")
_MOE = (
    "num_experts",
    "num_experts_per_tok",
    "moe_intermediate_size",
    "shared_expert_intermediate_size",
)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass(frozen=True)
class Card:
    """One real checkpoint's published architecture (see the module docstring)."""

    hub_id: str
    family: str
    config_class: str
    model_class: str
    config: dict[str, Any]  # config.json field names, nested as transformers 5 reads them
    processor: dict[str, Any]
    parameters: int
    visual_window: int | None
    trained_context: int
    sources: dict[str, str]
    unconfirmed: dict[str, str] = field(default_factory=dict)

    # ---- summaries --------------------------------------------------------------------------
    @property
    def text(self) -> dict[str, Any]:
        """The language model's dims, with head_dim resolved (config value or hidden / heads);
        ``partial_rotary_factor`` is the share of each head that rotates (1.0 unless the card
        says otherwise) and ``layer_types`` the per-layer attention kind of a hybrid."""
        t = self.config["text_config"]
        rope = t.get("rope_parameters", {})
        heads = t["num_attention_heads"]
        return {
            "hidden_size": t["hidden_size"],
            "num_hidden_layers": t["num_hidden_layers"],
            "num_attention_heads": heads,
            "num_key_value_heads": t.get("num_key_value_heads", heads),
            "head_dim": t.get("head_dim") or t["hidden_size"] // heads,
            "intermediate_size": t.get("intermediate_size"),  # None for a mixture of experts
            "moe": {k: t[k] for k in _MOE if k in t} or None,  # experts, widths, top-k
            "vocab_size": t["vocab_size"],
            "rope_theta": rope.get("rope_theta"),
            "mrope_section": rope.get("mrope_section"),
            "partial_rotary_factor": rope.get("partial_rotary_factor", 1.0),
            "max_position_embeddings": t["max_position_embeddings"],
            "layer_types": t.get("layer_types"),  # hybrids (Qwen3.5): per layer, else None
        }

    @property
    def vision(self) -> dict[str, Any]:
        return dict(self.config.get("vision_config", {}))

    def source_of(self, path: str) -> str:
        """Where the value at dotted ``path`` (e.g. ``config.text_config.vocab_size``) comes
        from, with its caveat when it is unconfirmed."""
        group = path.split(".")[0]
        if group not in self.sources:
            raise ConfigError(f"card {self.hub_id}: no source for {path!r}")
        text = self.sources[group]
        for key, why in self.unconfirmed.items():
            if path == key or path.startswith(key + "."):
                text += f" [unconfirmed: {why}]"
        return text

    # ---- real transformers objects ---------------------------------------------------------
    def hf_config(self) -> Any:
        """The family's real transformers config built from this card."""
        import transformers

        return getattr(transformers, self.config_class)(**copy.deepcopy(self.config))

    def count_parameters(self) -> int:
        """Parameters of the real model class built on the meta device (nothing allocated)."""
        import torch
        import transformers

        cls = getattr(transformers, self.model_class)
        with torch.device("meta"):
            model = cls(self.hf_config())
        return sum(p.numel() for p in model.parameters())

    def build_processor(self) -> Any:
        """The family's real processor with this card's settings and a local byte tokenizer."""
        import transformers

        p = self.processor
        tok = build_tokenizer(**p["tokenizer"])
        parts = {"tokenizer": tok}
        for key in ("image_processor", "video_processor"):
            name, kwargs = p[key]
            parts[key] = getattr(transformers, name)(**copy.deepcopy(kwargs))
        template = (TEMPLATES / p["chat_template"]).read_text()
        return getattr(transformers, p["class"])(**parts, **p["kwargs"], chat_template=template)

    def summary(self) -> dict[str, Any]:
        return {
            "hub_id": self.hub_id,
            "family": self.family,
            "parameters": self.parameters,
            "text": self.text,
            "vision": self.vision,
            "visual_window": self.visual_window,
            "trained_context": self.trained_context,
            "sources": self.sources,
            "unconfirmed": self.unconfirmed,
        }


def _cards_of(path: Path) -> list[Card]:
    data = json.loads(path.read_text())
    out = []
    for entry in data["cards"]:
        hub_id = entry["hub_id"]
        sources = {
            k: v.format(hub_id=hub_id, model_class=data["model_class"])
            for k, v in {**data["sources"], **entry.get("sources", {})}.items()
        }
        out.append(
            Card(
                hub_id=hub_id,
                family=data["family"],
                config_class=data["config_class"],
                model_class=data["model_class"],
                config=_merge(data["defaults"], entry.get("config", {})),
                processor=_merge(data["processor"], entry.get("processor", {})),
                parameters=int(entry["parameters"]),
                visual_window=entry["visual_window"],
                trained_context=int(entry["trained_context"]),
                sources=sources,
                unconfirmed={**data.get("unconfirmed", {}), **entry.get("unconfirmed", {})},
            )
        )
    return out


@cache
def _all() -> dict[str, Card]:
    found: dict[str, Card] = {}
    for path in sorted(_DIR.glob("*.json")):
        for c in _cards_of(path):
            found[c.hub_id.lower()] = c
    return found


def cards() -> list[Card]:
    """Every card, ordered by family file then as written."""
    return list(_all().values())


def find(hub_id: str) -> Card | None:
    """The card of ``hub_id`` (case-insensitive), or None."""
    return _all().get(hub_id.strip().lower())


def card(hub_id: str) -> Card:
    """The card of ``hub_id``; unknown ids raise with the closest known ones."""
    found = find(hub_id)
    if found is not None:
        return found
    known = [c.hub_id for c in cards()]
    near = did_you_mean(hub_id, known, n=3, cutoff=0.5, template="; did you mean {}?", quote=False)
    hint = near or f"; known: {', '.join(known)}"
    raise UnsupportedModelError(f"no architecture card for {hub_id!r}{hint}")


_OLD_NAMES = {"llm_config": "text_config", "qkv_bias": "attention_bias"}


def _as_read(part: Any) -> Any:
    """A config.json dict with its older field names as transformers 5 reads them, so that
    :func:`verify` compares them with the card: ``llm_config`` (InternVL's own configs) is
    ``text_config``, ``qkv_bias`` is ``attention_bias``, and ``rope_scaling`` + ``rope_theta``
    are ``rope_parameters`` (``{"rope_type": "default"}`` when ``rope_scaling`` is null; the
    old ``"mrope"`` type is ``"default"`` with its ``mrope_section``)."""
    if not isinstance(part, dict):
        return part
    out = {k: _as_read(v) for k, v in part.items()}
    for old, new in _OLD_NAMES.items():
        if old in out and new not in out:
            out[new] = out.pop(old)
    if "rope_parameters" not in out and ("rope_scaling" in out or "rope_theta" in out):
        rope = dict(out.get("rope_scaling") or {})
        kind = rope.pop("type", None) or rope.get("rope_type") or "default"
        rope["rope_type"] = "default" if kind == "mrope" else kind  # Qwen2-VL's old name
        if "rope_theta" in out:
            rope["rope_theta"] = out["rope_theta"]
        out["rope_parameters"] = rope
    return out


def verify(c: Card, config: Any) -> list[str]:
    """Differences between card ``c`` and a real checkpoint's config (an HF config object or
    the dict of its config.json, e.g. ``AutoConfig.from_pretrained(folder)``): one line per
    field of the card whose value differs, empty when they agree."""
    real = _as_read(config.to_dict() if hasattr(config, "to_dict") else dict(config))
    mine = c.hf_config().to_dict()
    diffs: list[str] = []

    def walk(card_part: dict[str, Any], mine_part: dict[str, Any], real_part: Any, at: str) -> None:
        for key, value in card_part.items():
            where = f"{at}.{key}" if at else key
            theirs = real_part.get(key) if isinstance(real_part, dict) else None
            if isinstance(value, dict):
                walk(value, mine_part.get(key, {}), theirs or {}, where)
            elif theirs is not None and mine_part.get(key, value) != theirs:
                diffs.append(f"{where}: card {mine_part.get(key, value)!r}, checkpoint {theirs!r}")

    walk(c.config, mine, real, "")
    return diffs
