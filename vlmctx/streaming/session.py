"""A streaming session: frames enter the model as they arrive, questions are answered at any
moment, and the key/value memory on the device stays under a budget however long the stream runs.

The training-free recipe of ReKV (arXiv 2503.00540): each pushed chunk is prefilled over the
attention sinks (the prompt's opening) and the recent window (sliding-window attention while
encoding); when the window is full its oldest blocks are offloaded (``kv_store.py``); a question
brings back the offloaded blocks that best match it (``retrieval.py``) and is answered from
sinks + retrieved blocks + recent window. Positions are those the tokens were prefilled with
(``prompt.py``): nothing is re-rotated, so a retrieved block attends exactly as it was encoded.

Text is not kept: a question and its answer are dropped from the cache afterwards, so later
chunks and questions see the stream only (each question is answered independently).

Budget: ``budget`` tokens (or ``budget_bytes``) of key/value cache on the device for sinks +
frame blocks, split into the recent window and ``retrieve_tokens`` kept free for retrieved
blocks; a question and its answer add their own tokens while they run, and a forward's
``torch.cat`` briefly holds a second copy of the cache (the transient every ``DynamicCache``
update has). ``host_budget`` bounds what the host keeps (``tiers.py``): offloaded key/values up
to a share of it, beyond that the compact tier (frames + key summaries), re-encoded on retrieval.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from vlmctx.errors import BudgetExceededError, ConfigError, UnsupportedModelError
from vlmctx.streaming import prompt
from vlmctx.streaming.errors import ChunkError, SessionClosedError
from vlmctx.streaming.kv_store import Block, KVStore
from vlmctx.streaming.retrieval import ProjectionTap, block_scores, decoder_layers, select
from vlmctx.streaming.tiers import enforce_host_budget, input_size_frames, resolve_host_budget
from vlmctx.video.types import Frames


@dataclass
class Retrieved:
    """An offloaded block a question brought back: its frames, times and score; ``tier``:
    where it came from (``host``, ``disk``, or ``compact``: re-encoded from its frames);
    ``covers``: the stream time a merged compact entry stands for (its own frames otherwise)."""

    block: int
    frames: list[tuple[int, float]]  # (index, pts seconds)
    score: float
    tier: str = "host"
    covers: tuple[float, float] | None = None


@dataclass
class SessionAnswer:
    """One question's answer and what it was answered from."""

    text: str
    token_ids: list[int]  # greedy tokens (the end-of-turn token included when generated)
    recent: list[tuple[int, float]]  # frames in the device window: (index, pts seconds)
    retrieved: list[Retrieved]
    context_tokens: int  # cached tokens the question attended to (sinks + retrieved + recent)
    device_kv_bytes: int  # key/value bytes on the device at the end of the answer
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def frames_used(self) -> list[tuple[int, float]]:
        """Every frame the answer could attend to, in time order."""
        return sorted({*self.recent, *(f for r in self.retrieved for f in r.frames)})


def _frames_of(block: Block) -> list[tuple[int, float]]:
    return [(int(i), float(t)) for i, t in zip(block.indices, block.pts_s, strict=True)]


class StreamingSession:
    """``push(frames)`` as they arrive, ``ask(question)`` at any time, ``close()`` at the end.

    Thread-safe: calls on one session are serialised, and every model run holds the model's
    ``Loaded.lock`` (other calls on the same model wait, and never see the session's state).
    """

    def __init__(
        self,
        lm: Any,
        *,
        budget: int | None = None,
        budget_bytes: int | None = None,
        retrieve_tokens: int | None = None,
        top_k: int = 4,
        offload: str = "cpu",
        offload_dir: str | None = None,
        host_budget: int | str | None = None,
        compact_fraction: float = 0.5,
        chunk_context: str = "window",
        record: bool = False,
    ) -> None:
        if lm.config.pooling != "none" or lm.config.position != "default":
            raise UnsupportedModelError(
                "a streaming session runs the model's own positions without pooling: use "
                f"pooling=none and position=default (got {lm.config.pooling}, {lm.config.position})"
            )
        if budget is not None and budget_bytes is not None:
            raise ConfigError("give budget (tokens) or budget_bytes, not both")
        if top_k < 0:
            raise ConfigError(f"top_k must be >= 0, got {top_k}")
        if chunk_context not in ("window", "sinks"):
            raise ConfigError(f"chunk_context must be 'window' or 'sinks', got {chunk_context!r}")
        if not 0 < compact_fraction < 1:
            raise ConfigError(f"compact_fraction must be in (0, 1), got {compact_fraction}")
        self.chunk_context = chunk_context
        self.lm, self.loaded = lm, lm.loaded
        self.adapter, self.device = lm.loaded.adapter, lm.device
        self.pieces = prompt.prompt_pieces(self.loaded)
        cfg = self.loaded.model.config.get_text_config()
        self._heads = int(cfg.num_attention_heads)
        self._head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // self._heads)
        self._kv_heads = int(getattr(cfg, "num_key_value_heads", None) or self._heads)
        self._layers = decoder_layers(self.adapter, self.loaded.model)
        self.store = KVStore(
            offload, offload_dir, resolve_host_budget(host_budget), compact_fraction
        )
        self._exact_resize: dict[tuple[int, ...], bool] = {}  # input shape -> resize checked
        self.top_k = top_k
        self.record = record
        self.transcript: list[prompt.Piece] = []  # every piece's inputs, when ``record``
        self._lock = threading.RLock()
        self._closed = False
        self._next_text, self._top = 0, -1
        self._last_pts = -float("inf")
        self._next_block = 0
        self.frames_pushed = 0
        self._prefill_prefix()
        self.token_bytes = self.store.device_bytes() // max(self.store.length(), 1)
        if budget_bytes is not None:
            budget = int(budget_bytes) // self.token_bytes
        self.budget = budget
        self.retrieve_tokens = self._retrieve_allowance(budget, retrieve_tokens)

    def _retrieve_allowance(self, budget: int | None, retrieve_tokens: int | None) -> int:
        if budget is None:
            return 0 if retrieve_tokens is None else int(retrieve_tokens)
        free = budget - self.store.sinks
        share = free // 2 if retrieve_tokens is None else int(retrieve_tokens)
        if free <= 0 or share < 0 or share >= free:
            raise BudgetExceededError(
                f"a budget of {budget} tokens leaves no room for frames: the prompt's opening "
                f"(attention sinks) takes {self.store.sinks} and retrieval {share}; raise it"
            )
        return share

    # ---- public API ----------------------------------------------------------------------------
    def push(self, frames: Frames) -> Block:
        """Encode and prefill a chunk of frames (true timestamps in ``frames.pts_s``); returns
        its block. A refused chunk raises :class:`ChunkError` and leaves the session as it was."""
        with self._lock:
            self._check_open()
            self._check_chunk(frames)
            try:
                text = prompt.chunk_text(self.adapter, self.pieces, frames)
                inputs = prompt.chunk_inputs(self.loaded, text, frames)
                piece = prompt.place(self.loaded, inputs, self._next_text)
                # frames are kept only where a block may go compact (a host budget, or a disk
                # write that may fail)
                keep = self.store.host_budget is not None or self.store.offload == "disk"
                kept = self._compact_frames(frames, inputs) if keep else None
            except UnsupportedModelError:
                raise
            except Exception as exc:  # noqa: BLE001 - the processor's many ways to refuse input
                raise ChunkError(f"the processor refused this chunk: {exc}") from exc
            self._make_room(piece.n)
            with ProjectionTap(self._layers, "k_proj", self._kv_heads, self._head_dim) as tap:
                self._prefill(piece, self._context_mask(piece.n))
            block = Block(
                self._next_block,
                np.asarray(frames.indices, dtype=np.int64).copy(),
                np.asarray(frames.pts_s, dtype=np.float64).copy(),
                piece.n,
                tap.summary(),
                start=self._next_text,
                frames=kept,
            )
            self._next_block += 1
            self.store.resident.append(block)
            enforce_host_budget(self.store)  # the new block's frames count too
            self._advance(piece)
            self._last_pts = float(frames.pts_s[-1])
            self.frames_pushed += len(frames)
            return block

    def ask(self, question: str, max_new_tokens: int = 32) -> SessionAnswer:
        """Answer now from sinks + retrieved blocks + recent window (greedy); the question and
        answer are not kept, so the stream goes on as before."""
        if not question or not question.strip():
            raise ConfigError("the question is empty")
        if max_new_tokens < 1:
            raise ConfigError("max_new_tokens must be at least 1")
        with self._lock:
            self._check_open()
            text = self.pieces.lead + question + self.pieces.tail
            piece = prompt.place(
                self.loaded, prompt.text_inputs(self.loaded, text), self._next_text
            )
            if self.record:
                self.transcript.append(piece)
            base = self.store.length()
            t0 = time.perf_counter()
            with self.loaded.lock, torch.no_grad():
                try:
                    retrieved = self._retrieve(piece, base)
                    t1 = time.perf_counter()
                    ids = self._decode(piece, max_new_tokens)
                    held = self.store.device_bytes()
                    context = base + sum(b.n for b, _ in retrieved)
                finally:
                    self.store.truncate(base)
                    self.adapter.positions.reset_position_state(self.loaded.model)
            t2 = time.perf_counter()
        tok = self.loaded.processor.tokenizer
        return SessionAnswer(
            text=tok.decode(ids, skip_special_tokens=True).strip(),
            token_ids=ids,
            recent=[f for b in self.store.resident for f in _frames_of(b)],
            retrieved=[Retrieved(b.id, _frames_of(b), s, b.tier, b.covers) for b, s in retrieved],
            context_tokens=context,
            device_kv_bytes=held,
            timings={"retrieve": round(t1 - t0, 4), "answer": round(t2 - t1, 4)},
        )

    def stats(self) -> dict[str, Any]:
        """What the session holds now: device key/value bytes, blocks per tier, host bytes per
        tier (``host_bytes`` = host key/values + compact entries + what device/host blocks keep
        to go compact; disk files are not host memory)."""
        with self._lock:
            s = self.store
            tiers = s.tier_bytes()
            compact = s.compact_count()
            return {
                "budget_tokens": self.budget,
                "retrieve_tokens": self.retrieve_tokens,
                "device_tokens": s.length(),
                "device_kv_bytes": s.device_bytes(),
                "sink_tokens": s.sinks,
                "resident_blocks": len(s.resident),
                "offloaded_blocks": len(s.offloaded_blocks),
                "offloaded_bytes": tiers["host_kv"],
                "host_budget": s.host_budget,
                "host_kv_blocks": len(s.offloaded_blocks) - compact,
                "compact_blocks": compact,
                "compact_merges": s.merges,
                "host_kv_bytes": tiers["host_kv"],
                "disk_kv_bytes": tiers["disk_kv"],
                "compact_bytes": tiers["compact"],
                "kept_bytes": tiers["kept"],
                "host_bytes": tiers["host_kv"] + tiers["compact"] + tiers["kept"],
                "frames_pushed": self.frames_pushed,
                "last_pts_s": None if self._last_pts == -float("inf") else self._last_pts,
            }

    def reencode(self, block: Block) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The keys/values of ``block`` re-encoded from its kept frames at its original position
        ids and timestamps, over the attention sinks alone (CPU copies; the session is left as it
        was). Equal to its first encoding within float round-off when that encoding also saw the
        sinks alone (``chunk_context="sinks"``, or no resident block before it); see
        docs/streaming.md, "Tiers"."""
        with self._lock:
            self._check_open()
            base = self.store.length()
            with self.loaded.lock, torch.no_grad():
                try:
                    self._reencode_into_cache(block)
                    return [
                        (layer.keys[:, :, base:].to("cpu", copy=True),
                         layer.values[:, :, base:].to("cpu", copy=True))
                        for layer in self.store.cache.layers
                    ]  # fmt: skip
                finally:
                    self.store.truncate(base)
                    self.adapter.positions.reset_position_state(self.loaded.model)

    def close(self) -> None:
        """Free the session's memory; later ``push``/``ask`` raise ``SessionClosedError``."""
        with self._lock:
            self._closed = True
            self.store.clear()
            self.transcript.clear()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> StreamingSession:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- internals -----------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise SessionClosedError("this streaming session is closed; open a new one")

    def _check_chunk(self, frames: Frames) -> None:
        data = getattr(frames, "data", None)
        if not isinstance(data, np.ndarray) or data.ndim != 4 or data.shape[-1] != 3:
            shape = getattr(data, "shape", None)
            raise ChunkError(f"a chunk holds uint8 RGB frames (t, h, w, 3); got shape {shape}")
        if data.dtype != np.uint8 or data.shape[0] == 0 or min(data.shape[1:3]) < 1:
            raise ChunkError(f"a chunk holds >= 1 uint8 frame; got {data.dtype} {data.shape}")
        pts = np.asarray(frames.pts_s, dtype=np.float64)
        if pts.shape != (data.shape[0],) or len(frames.indices) != data.shape[0]:
            raise ChunkError("a chunk needs one timestamp and one index per frame")
        if not np.all(np.isfinite(pts)) or np.any(np.diff(pts) <= 0) or pts[0] <= self._last_pts:
            raise ChunkError(
                f"chunk timestamps must increase and follow the last pushed frame "
                f"({self._last_pts:.3f}s); got {pts[0]:.3f}s..{pts[-1]:.3f}s"
            )

    def _prefill_prefix(self) -> None:
        """Prefill the prompt's opening: the attention sinks, never evicted."""
        piece = prompt.place(
            self.loaded, prompt.text_inputs(self.loaded, self.pieces.prefix), self._next_text
        )
        self._prefill(piece)
        self.store.check_layers()
        self.store.sinks = piece.n
        self._advance(piece)

    def _advance(self, piece: prompt.Piece) -> None:
        self._next_text, self._top = piece.next_text, max(self._top, piece.top)
        if self.record:
            self.transcript.append(piece)

    def _make_room(self, n: int) -> None:
        """Offload the oldest resident blocks until the window can take ``n`` more tokens."""
        if self.budget is None:
            return
        window = self.budget - self.store.sinks - self.retrieve_tokens
        if n > window:
            raise BudgetExceededError(
                f"a chunk of {n} tokens does not fit the window of {window} tokens (budget "
                f"{self.budget} minus sinks and retrieval): push fewer frames per chunk or raise "
                "the budget"
            )
        used, count = self.store.resident_tokens(), 0
        while used + n > window:
            used -= self.store.resident[count].n
            count += 1
        self.store.evict(count)

    def _compact_frames(self, frames: Frames, inputs: Any) -> Frames:
        """What the block keeps to be re-encoded later: its frames resized to the model's input
        size when the processor maps them to the very same pixel values (checked once per input
        shape), else the frames as pushed."""
        data = np.ascontiguousarray(frames.data)
        patch = getattr(getattr(self.loaded.processor, "video_processor", None), "patch_size", None)
        small = input_size_frames(data, inputs, patch)
        shape = data.shape[1:]
        if small is not None and small is not data and shape not in self._exact_resize:
            again = prompt.chunk_inputs(
                self.loaded,
                prompt.chunk_text(self.adapter, self.pieces, frames),
                replace(frames, data=small),
            )
            pixels = [k for k in inputs if k.startswith("pixel_values")]
            self._exact_resize[shape] = bool(pixels) and all(
                torch.equal(inputs[k], again[k]) for k in pixels
            )
        keep = small if small is not None and self._exact_resize.get(shape, True) else data
        return replace(frames, data=keep.copy() if keep is frames.data else keep)

    def _context_mask(self, n: int) -> torch.Tensor | None:
        """With ``chunk_context="sinks"`` a chunk attends to the sinks and itself only (resident
        blocks masked out), so its compact re-encoding is exact; None otherwise."""
        resident = self.store.length() - self.store.sinks
        if self.chunk_context == "window" or resident == 0:
            return None
        return torch.cat([
            torch.ones(self.store.sinks, dtype=torch.int64),
            torch.zeros(resident, dtype=torch.int64),
            torch.ones(n, dtype=torch.int64),
        ])[None]  # fmt: skip

    def _forward(self, piece: prompt.Piece, mask: torch.Tensor | None = None) -> Any:
        """Run the model over ``piece`` appended to the device cache; returns the last logits.
        ``mask``: (1, cached + n) 0/1 over cached tokens and the piece (None: attend to all)."""
        inputs = {k: v for k, v in piece.inputs.items() if k != "attention_mask"}
        inputs = {k: v.to(self.device) if torch.is_tensor(v) else v for k, v in inputs.items()}
        if mask is not None:
            inputs["attention_mask"] = mask.to(self.device)
        out = self.loaded.model(
            **inputs,
            position_ids=piece.positions.to(self.device),
            cache=self.store.cache,
            use_cache=True,
            logits_to_keep=1,
        )
        return out.logits[0, -1]

    def _reencode_into_cache(self, block: Block) -> None:
        """Append ``block`` re-encoded from its kept frames at its original position ids (its
        ``start``), attending to the sinks alone. Caller holds the model lock."""
        if block.frames is None:
            raise ValueError(f"block {block.id} kept no frames to re-encode")
        frames = block.frames
        text = prompt.chunk_text(self.adapter, self.pieces, frames)
        piece = prompt.place(
            self.loaded, prompt.chunk_inputs(self.loaded, text, frames), block.start
        )
        cached = self.store.length()
        mask = torch.cat([
            torch.ones(self.store.sinks, dtype=torch.int64),
            torch.zeros(cached - self.store.sinks, dtype=torch.int64),
            torch.ones(piece.n, dtype=torch.int64),
        ])[None]  # fmt: skip
        self._forward(piece, mask if cached > self.store.sinks else None)
        self.adapter.positions.reset_position_state(self.loaded.model)

    def _prefill(self, piece: prompt.Piece, mask: torch.Tensor | None = None) -> None:
        """Append ``piece`` to the cache under the model lock; on failure nothing is kept."""
        base = self.store.length()
        with self.loaded.lock, torch.no_grad():
            try:
                self._forward(piece, mask)
            except torch.OutOfMemoryError:
                self.store.truncate(base)
                raise
            except Exception as exc:
                self.store.truncate(base)
                raise ChunkError(f"the model could not take this chunk: {exc}") from exc
            finally:
                self.adapter.positions.reset_position_state(self.loaded.model)

    def _retrieve(self, piece: prompt.Piece, base: int) -> list[tuple[Block, float]]:
        """Score the offloaded blocks with a probe run of the question and append the best to
        the device cache (in stream order); returns them with their scores."""
        blocks = self.store.offloaded_blocks
        allowance = (self.budget - base) if self.budget is not None else self.retrieve_tokens
        if not blocks or self.top_k == 0 or allowance <= 0:
            return []
        with ProjectionTap(self._layers, "q_proj", self._heads, self._head_dim) as tap:
            self._forward(piece)
        self.store.truncate(base)
        scores = block_scores(tap.summary(), self.store.key_summaries())
        chosen = select(scores, [b.n for b in blocks], self.top_k, allowance)
        for i in chosen:
            if blocks[i].tier == "compact":
                self._reencode_into_cache(blocks[i])
            else:
                self.store.append(self.store.fetch(blocks[i], self.device))
        return [(blocks[i], float(scores[i])) for i in chosen]

    def _decode(self, piece: prompt.Piece, max_new_tokens: int) -> list[int]:
        """Greedy decoding after the question; generated token i sits at ``max id + 1 + i``,
        the model's own rule (transformers' ``rope_deltas`` for M-RoPE)."""
        eos = self._eos_ids()
        logits = self._forward(piece)
        top = max(self._top, piece.top)
        ids: list[int] = []
        for i in range(max_new_tokens):
            token = int(torch.argmax(logits))
            ids.append(token)
            if token in eos or i == max_new_tokens - 1:
                break
            pos = torch.full_like(piece.positions[..., :1], top + 1 + i)  # (3, 1, 1) or (1, 1)
            step = prompt.Piece({"input_ids": torch.tensor([[token]])}, pos, 0, 0)
            logits = self._forward(step)
        return ids

    def _eos_ids(self) -> set[int]:
        eos = self.loaded.model.generation_config.eos_token_id
        if eos is None:
            eos = self.loaded.processor.tokenizer.eos_token_id
        return set(eos if isinstance(eos, list) else [eos])
