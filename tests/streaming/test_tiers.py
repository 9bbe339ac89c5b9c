"""Tiered memory: device -> host key/values -> compact tier (frames + key summaries, re-encoded
when retrieved). Re-encoding is exact, the host budget holds over any number of chunks with a
bounded number of entries to score, a failed write degrades to the compact tier with one
warning, and close() frees every tier."""

from __future__ import annotations

import errno
import warnings

import pytest
import torch

from tests.streaming.conftest import chunks, sample_frames
from vlmctx.errors import ConfigError
from vlmctx.streaming.tiers import resolve_host_budget

Q = "What colour is the ball?"


def _close(a: list, b: list) -> float:
    """Largest absolute difference between two per-layer (keys, values) lists."""
    return max(
        max((ka - kb).abs().max().item(), (va - vb).abs().max().item())
        for (ka, va), (kb, vb) in zip(a, b, strict=True)
    )


def test_reencoded_block_equals_its_first_encoding(toylab) -> None:
    """With chunk_context="sinks" every block's re-encoding from its kept frames, at its original
    position ids, gives its first keys/values within fp32 round-off, in every layer."""
    with toylab.session(budget=14, retrieve_tokens=4, chunk_context="sinks") as s:
        for chunk in chunks(sample_frames(12), 2):
            s.push(chunk)
        blocks = s.store.offloaded_blocks
        assert len(blocks) == 5 and all(b.tier == "host" for b in blocks)
        for b in blocks:
            again = s.reencode(b)
            assert [k.shape for k, _ in again] == [k.shape for k, _ in b.kv]
            assert _close(again, b.kv) < 1e-5
        assert s.stats()["device_tokens"] == s.store.length()  # reencode left no trace


def test_window_context_reencode_is_exact_where_the_context_was_the_sinks(toylab) -> None:
    """In the default (sliding-window) encoding, the first block saw the sinks alone, so its
    re-encoding is exact; a later block's first layer is exact (its keys/values depend on its
    own tokens and positions only), deeper layers saw the window and differ."""
    with toylab.session(budget=22, retrieve_tokens=8) as s:  # a window of two 4-token chunks
        for chunk in chunks(sample_frames(8), 2):
            s.push(chunk)
        assert len(s.store.offloaded_blocks) == 2  # the second was encoded over the first
        first, later = s.store.offloaded_blocks[0], s.store.offloaded_blocks[-1]
        assert _close(s.reencode(first), first.kv) < 1e-5
        again = s.reencode(later)
        assert _close(again[:1], later.kv[:1]) < 1e-5
        assert _close(again[1:], later.kv[1:]) > 1e-4


def test_compact_tier_answers_as_the_host_tier(toylab) -> None:
    """A host budget that fits no key/values sends every offloaded block to the compact tier;
    the same question retrieves the same blocks, re-encoded, and gives the same tokens."""
    stream = chunks(sample_frames(12), 2)
    runs = []
    for host in ("none", 64 * 1024):
        with toylab.session(
            budget=18, retrieve_tokens=8, chunk_context="sinks", host_budget=host,
            compact_fraction=0.9,
        ) as s:  # fmt: skip
            for chunk in stream:
                s.push(chunk)
            runs.append((s.ask(Q, max_new_tokens=6), s.stats()))
            kept = {b.frames is not None for b in (*s.store.resident, *s.store.offloaded_blocks)}
            assert kept == {host != "none"}  # no host budget: nothing goes compact, no frames kept
    (full, st_full), (compact, st_compact) = runs
    assert st_full["compact_blocks"] == 0 and st_full["host_kv_blocks"] == 5
    assert st_compact["compact_blocks"] == 5 and st_compact["host_kv_bytes"] == 0
    assert st_compact["compact_merges"] == 0
    assert [r.block for r in compact.retrieved] == [r.block for r in full.retrieved]
    assert {r.tier for r in compact.retrieved} == {"compact"}
    assert compact.token_ids == full.token_ids


def test_kept_frames_are_at_the_model_input_size(toylab) -> None:
    frames = chunks(sample_frames(4), 2)
    with toylab.session(budget=14, retrieve_tokens=4) as s:
        block = s.push(frames[0])
        assert block.frames is not None
        assert block.frames.data.dtype == frames[0].data.dtype
        assert block.frames.data.size < frames[0].data.size  # resized, checked exact
        assert s._exact_resize == {frames[0].data.shape[1:]: True}


def test_host_budget_holds_with_a_bounded_number_of_entries(toylab) -> None:
    """Over many chunks host bytes stay under the host budget, the compact tier merges its most
    similar neighbours, and the entries a question scores stop growing."""
    budget = 48 * 1024
    with toylab.session(budget=14, retrieve_tokens=4, host_budget=budget) as s:
        entries = []
        for k, chunk in enumerate(chunks(sample_frames(96), 1)):  # 96 one-frame chunks
            s.push(chunk)
            st = s.stats()
            assert st["host_bytes"] <= budget
            entries.append(st["offloaded_blocks"])
            if k % 16 == 0 and s.store.offloaded_blocks:
                restacked = torch.stack([b.key_summary for b in s.store.offloaded_blocks])
                assert torch.equal(s.store.key_summaries(), restacked)
        assert st["compact_merges"] > 0 and st["compact_blocks"] > 0
        assert max(entries[48:]) == max(entries[24:48])  # bounded: no growth in the second half
        covers = [b.covers for b in s.store.offloaded_blocks if b.tier == "compact"]
        assert covers[0][0] == 0.0 and all(
            a[1] < b[0] for a, b in zip(covers, covers[1:], strict=False)
        )
        assert (
            sum(b.merged for b in s.store.offloaded_blocks)
            == len(s.store.offloaded_blocks) + st["compact_merges"]
        )
        answer = s.ask(Q, max_new_tokens=4)
        assert answer.context_tokens <= 14


def test_failed_write_degrades_to_compact_with_one_warning(toylab, tmp_path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with toylab.session(
            budget=14, retrieve_tokens=4, offload="disk", offload_dir=not_a_folder
        ) as s:
            for chunk in chunks(sample_frames(8), 2):
                s.push(chunk)
            st = s.stats()
            answer = s.ask(Q, max_new_tokens=4)
    assert len([w for w in seen if issubclass(w.category, RuntimeWarning)]) == 1
    assert "compact tier" in str(seen[0].message)
    assert st["compact_blocks"] == st["offloaded_blocks"] == 3 and st["disk_kv_bytes"] == 0
    assert answer.retrieved and {r.tier for r in answer.retrieved} == {"compact"}


def test_full_disk_degrades_to_compact(toylab, tmp_path, monkeypatch) -> None:
    """A write that fails mid-stream (ENOSPC) leaves the blocks written so far on disk and sends
    the rest to the compact tier; no partial file stays behind."""
    real_save, calls = torch.save, []

    def save(obj, path, *a, **k):  # the disk fills after the first block
        calls.append(path)
        if len(calls) > 1:
            with open(path, "wb") as f:
                f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, path, *a, **k)

    monkeypatch.setattr(torch, "save", save)
    with (
        pytest.warns(RuntimeWarning, match="No space left"),
        toylab.session(budget=14, retrieve_tokens=4, offload="disk", offload_dir=tmp_path) as s,
    ):
        for chunk in chunks(sample_frames(8), 2):
            s.push(chunk)
        tiers = [b.tier for b in s.store.offloaded_blocks]
        assert tiers == ["disk", "compact", "compact"]
        assert len(list(tmp_path.glob("block-*.pt"))) == 1
        s.ask(Q, max_new_tokens=4)


def test_close_frees_every_tier(toylab, tmp_path) -> None:
    s = toylab.session(
        budget=14, retrieve_tokens=4, offload="disk", offload_dir=tmp_path, host_budget=40 * 1024
    )
    for chunk in chunks(sample_frames(24), 2):
        s.push(chunk)
    st = s.stats()
    assert st["compact_blocks"] > 0 and st["disk_kv_bytes"] > 0 and st["host_bytes"] > 0
    blocks = [*s.store.resident, *s.store.offloaded_blocks]
    s.close()
    st = s.stats()
    assert st["device_tokens"] == st["host_bytes"] == st["disk_kv_bytes"] == 0
    assert st["offloaded_blocks"] == st["resident_blocks"] == 0
    assert all(b.frames is None and b.kv is None and b.path is None for b in blocks)
    assert list(tmp_path.glob("block-*.pt")) == []


def test_host_budget_values() -> None:
    assert resolve_host_budget("16GiB") == 16 * 2**30
    assert resolve_host_budget("none") is None
    assert resolve_host_budget(None) > 0  # sized from free memory
    for bad in ("lots", 0, -5, True):
        with pytest.raises(ConfigError, match="host_budget"):
            resolve_host_budget(bad)
