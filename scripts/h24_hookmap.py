#!/usr/bin/env python3
"""Issue 24 (models): rewrite adapter hook call sites to the composed adapter. Idempotent.

Usage: python scripts/h24_hookmap.py PATH [PATH ...]   (files or folders; .py .md)
Rewrites ``<...adapter>.hook`` / ``ADAPTERS.create(...).hook`` to ``<...adapter>.<component>.hook``
and moved imports. Delete this script once every branch has merged issue 24.
"""

import re
import sys
from pathlib import Path

# old hook -> (component, new name)
HOOKS = {
    "time_prefix": ("settings", "time_prefix"),
    "visual_window": ("settings", "visual_window"),
    "prepare_processor": ("prompt", "prepare_processor"),
    "time_text": ("prompt", "time_text"),
    "messages": ("prompt", "messages"),
    "video_kwargs": ("prompt", "video_kwargs"),
    "build_inputs": ("prompt", "build_inputs"),
    "subtitle_text": ("prompt", "subtitle_text"),
    "visual_token_ids": ("tokens", "visual_token_ids"),
    "visual_mask": ("tokens", "visual_mask"),
    "count_visual": ("tokens", "count_visual"),
    "interleaves_subtitles": ("subtitles", "interleaves"),
    "subtitle_wrap_ids": ("subtitles", "wrap_ids"),
    "subtitle_wrap": ("subtitles", "wrap"),
    "temporal_step": ("subtitles", "temporal_step"),
    "subtitle_cuts": ("subtitles", "cuts"),
    "split_video": ("subtitles", "split_video"),
    "mrope": ("positions", "mrope"),
    "rope_spec": ("positions", "rope_spec"),
    "layouts": ("positions", "layouts"),
    "language_model_path": ("positions", "language_model_path"),
    "language_model": ("positions", "language_model"),
    "rotary_attr": ("positions", "rotary_attr"),
    "reset_position_state": ("positions", "reset_position_state"),
    "attention_layer_types": ("positions", "attention_layer_types"),
    "features_method": ("pooled", "features_method"),
    "vision_module": ("pooled", "vision_module"),
    "visual_features": ("pooled", "visual_features"),
    "pooled_layout": ("pooled", "pooled_layout"),
    "pooled_embeddings": ("pooled", "pooled_embeddings"),
    "pooled_kwargs": ("pooled", "pooled_kwargs"),
    "pooled_visual_tokens": ("planner", "pooled_visual_tokens"),
    "fixed_state_bytes": ("planner", "fixed_state_bytes"),
    "build_tiny": ("tiny", "build"),
}
OWNER = r"(\badapter|ADAPTERS\.create\([^()]*\))"
TEXT = [  # plain replacements (imports and the one generic function)
    (
        "from vlmctx.models.base import token_counter",
        "from vlmctx.models.common import token_counter",
    ),
    (
        "from vlmctx.models.base import Loaded, _load_hint",
        "from vlmctx.models.contract import Loaded\n        from vlmctx.models.names import load_hint",
    ),
    ("ModelLoadError(_load_hint(source, exc))", "ModelLoadError(load_hint(source, exc))"),
    ("from vlmctx.models.base import SHIPPED", "from vlmctx.models.names import SHIPPED"),
    ("from vlmctx.models.base import", "from vlmctx.models.contract import"),
    (
        "from vlmctx.models.tiny import QWEN_SPECIALS",
        "from vlmctx.models.tinykit import QWEN_SPECIALS",
    ),
    (
        "from vlmctx.models.pooled import pooled_generate_kwargs, visual_runs",
        "from vlmctx.models.common import visual_runs\nfrom vlmctx.models.pooled import pooled_generate_kwargs",
    ),
]


def rewrite(text: str) -> str:
    for old, new in TEXT:
        text = text.replace(old, new)
    # interleave_subtitles moved from a method to a function of vlmctx.models.splice
    if re.search(r"\badapter\.interleave_subtitles\(", text):
        text = re.sub(r"\badapter\.interleave_subtitles\(", "interleave_subtitles(", text)
        text = text.replace(
            "from vlmctx.models.contract import Turn\n",
            "from vlmctx.models.contract import Turn\nfrom vlmctx.models.splice import interleave_subtitles\n",
        )
    # an Adapter is a composition built by its family's registered builder, not a bare class
    text = re.sub(
        r"type\((\w+(?:\.\w+)*)\.adapter\)\(\)", r"ADAPTERS.create(\1.adapter.family)", text
    )
    # the registry's entries are builder functions now: ask a built adapter
    text = text.replace("if e.factory.mrope)", "if ADAPTERS.create(e.name).positions.mrope)")
    for old, (comp, new) in HOOKS.items():
        text = re.sub(OWNER + r"\." + old + r"\b", r"\1." + comp + "." + new, text)
    return text


def main(paths: list[str]) -> None:
    files = []
    for p in map(Path, paths):
        files += [
            f
            for f in (p.rglob("*") if p.is_dir() else [p])
            if f.suffix in {".py", ".md"} and ".venv" not in f.parts
        ]
    changed = []
    for f in files:
        old = f.read_text(encoding="utf-8")
        new = rewrite(old)
        if new != old:
            f.write_text(new, encoding="utf-8")
            changed.append(str(f))
    print(f"hookmap: {len(changed)} files changed of {len(files)}:", *changed, sep="\n  ")


if __name__ == "__main__":
    main(sys.argv[1:])
