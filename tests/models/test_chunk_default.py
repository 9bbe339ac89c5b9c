"""The streaming chunk default per model: the checkpoint's vlmctx.json, else the family's."""

from __future__ import annotations

from vlmctx.cli import main
from vlmctx.models.resolve import default_chunk_frames


def test_toylab_declares_16_frame_chunks_families_default_to_2() -> None:
    # the streaming needle study: toylab right 100% with 16-frame chunks, 33-38% with 2
    assert default_chunk_frames("toylab") == 16
    assert default_chunk_frames("tiny-qwen2_vl") == 2


def test_live_help_names_the_model_default(capsys) -> None:
    assert main(["live", "--help"]) == 0
    assert "toylab 16" in " ".join(capsys.readouterr().out.split())
