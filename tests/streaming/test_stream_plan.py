"""Stream memory plans: offline from a card, and equal to what a real session holds."""

from __future__ import annotations

import numpy as np
import pytest

from vlmctx.errors import ConfigError
from vlmctx.planner.stream import parse_stream, plan_stream, stream_table

GIB = 2**30


def test_parse_stream() -> None:
    assert parse_stream("10h") == (1280, 720, 36000.0)
    assert parse_stream("640x480@90m") == (640, 480, 5400.0)
    for bad in ("", "ten hours", "0h", "0x10@1h"):
        with pytest.raises(ConfigError, match="--stream"):
            parse_stream(bad)


def test_plan_from_a_card_offline() -> None:
    from vlmctx.planner import Planner

    planner = Planner("Qwen/Qwen2-VL-7B-Instruct")
    p = plan_stream(planner, "448x448@10h", 1.0, host_budgets=[16 * GIB, 64 * GIB])
    capped = plan_stream(planner, "1280x720@10h", 1.0, host_budgets=[GIB])
    assert capped.frame_size == (597, 336)  # read at most 448 x 448 pixels, as vlmctx live reads
    assert (
        capped.tokens_per_frame
        < plan_stream(
            planner, "1280x720@10h", 1.0, host_budgets=[GIB], max_pixels=None
        ).tokens_per_frame
    )
    assert p.kv_per_token == 56 * 1024  # 28 layers x 4 kv heads x 128 x 2 (K, V) x 2 bytes
    assert p.input_size == (448, 448) and p.tokens_per_frame == 128  # (448 / 28)^2 per 2 frames
    assert p.host_kv_per_hour == 128 * 56 * 1024 * 3600
    summary = 28 * 4 * 128 * 4 / 2  # per frame: one float32 key summary per 2-frame chunk
    assert p.compact_per_hour == pytest.approx((448 * 448 * 3 + summary + 16) * 3600)
    assert p.full_context_kv == pytest.approx(p.host_kv_per_hour * 10)
    small, big = p.budgets
    assert big["host_kv_s"] == pytest.approx(4 * small["host_kv_s"])
    assert small["host_kv_s"] < small["compact_s"] < small["merging_after_s"]
    text = stream_table(p)
    assert "56.00 KiB" in text and "per hour of stream" in text


def test_plan_matches_a_real_session(toylab) -> None:
    """The plan's per-frame bytes of each tier equal those a toylab session holds."""
    from vlmctx.planner import Planner
    from vlmctx.streaming.sources import live_info
    from vlmctx.video.types import Frames

    p = plan_stream(Planner("toylab"), "128x96@1h", 1.0, host_budgets=[GIB], chunk_frames=16,
                    dtype="float32", budget_tokens=78, retrieve_tokens=36)  # fmt: skip
    info = live_info("synthetic", 128, 96, 1.0, "raw")
    rng = np.random.default_rng(0)
    data = rng.integers(0, 255, (16, 96, 128, 3), dtype=np.uint8)
    idx = np.arange(16)
    with toylab.session(78, retrieve_tokens=36) as s:
        block = s.push(Frames(data, idx, idx.astype(np.float64), "synthetic", info, 1.0))
        assert p.kv_per_token == s.token_bytes
        assert block.frames.data.shape[1:3] == p.input_size[::-1]  # (h, w) vs (w, h)
        assert block.compact_bytes() / 16 == pytest.approx(p.compact_per_hour / 3600)
        assert block.n - 2 == p.tokens_per_frame * 16  # + the chunk's vision start/end markup


def test_plan_stream_command(capsys) -> None:
    import json

    from vlmctx.cli import main

    argv = ["plan", "--stream", "448x448@10h", "--fps", "1", "--model",
            "Qwen/Qwen2-VL-7B-Instruct", "--host-budget", "16GiB,64GiB"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "56.00 KiB" in out and "16.00 GiB |" in out and "64.00 GiB |" in out
    assert main([*argv, "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["tokens_per_frame"] == 128 and len(plan["budgets"]) == 2
    for bad, message in ((["plan"], "give a VIDEO"), (["plan", "--stream", "ten"], "--stream"),
                         (["plan", "sample", "--host-budget", "1GiB"], "add --stream"),
                         (["plan", "sample", "--stream", "1h"], "drop VIDEO")):  # fmt: skip
        assert main(bad) == 2
        assert message in capsys.readouterr().err
