"""Train the toy-lab model from scratch on short synthetic videos (CPU, minutes) and ship it.

Every step draws a fresh batch of toy-lab questions
(``vlmctx.video.synthetic.toy_scenes.make_item``: ball, needle, count, order, when) over videos of
4..``max_frames`` frames at 1 fps, rendered at 128x96 and fed through the real Qwen2-VL processor
exactly as ``VideoLM`` feeds them at inference (same chat template, no time prefix). The loss covers the answer and the closing ``<|im_end|>`` only.
Seeded: the same command gives the same weights on the same machine and library versions.
``--seed N`` sets both the initial weights and the stream of training questions (a fresh clip set
per seed), so training seeds 0, 1, 2 are independent replicates of one recipe; the toy-lab
experiment (``vlmctx toylab run --seeds 0,1,2``) evaluates each and reports their spread.

``vlmctx toylab train -o DIR`` (or ``python -m vlmctx_pipelines.toylab.train``); the shipped
checkpoint in ``vlmctx/models/checkpoints/toylab`` was made with the defaults (see its ``vlmctx.json``).
``--frame-pixels`` (visual tokens per frame, hence the visual window the checkpoint declares) and
``--rope-theta`` make variants of the model; docs/toylab.md's realistic-window variant is
``--frame-pixels 2048 --rope-theta 100`` (VCWE's frequency split closer to real models').
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

SHIPPED = Path(__file__).resolve().parents[2] / "vlmctx" / "models" / "checkpoints" / "toylab"
RENDER = (128, 96)  # rendered size; the processor resizes to the model's 64x48


def prompt(processor: Any, question: str) -> str:
    """The chat prompt ``VideoLM`` builds for a video question when the time prefix is off."""
    msgs = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": question}]}]
    return processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)


def video_inputs(processor: Any, texts: list[str], videos: list[np.ndarray]) -> Any:
    """Processor outputs for pre-sampled 1-fps clips (never resampled by the processor)."""
    from transformers.video_utils import VideoMetadata

    meta = [
        VideoMetadata(
            total_num_frames=len(v),
            fps=1.0,
            width=v.shape[2],
            height=v.shape[1],
            duration=float(len(v)),
            frames_indices=list(range(len(v))),
        )
        for v in videos
    ]
    return processor(
        text=texts,
        videos=videos,
        video_metadata=meta,
        do_sample_frames=False,
        return_tensors="pt",
        padding=True,
    )


def draw(rng: np.random.Generator, max_frames: int) -> tuple[Any, str, str]:
    from vlmctx.video.synthetic.toy_scenes import TASKS, make_item

    task = TASKS[int(rng.integers(len(TASKS)))]
    frames = int(rng.choice(np.arange(4, max_frames + 1, 2)))
    return make_item(task, frames, rng)


def make_batch(processor: Any, rng: np.random.Generator, size: int, max_frames: int) -> Any:
    """One training batch: inputs with ``labels`` on the answer tokens only (right padding)."""
    import torch

    from vlmctx.video.synthetic.toy_scenes import render_all

    texts, videos, answer_lens = [], [], []
    for _ in range(size):
        scene, question, answer = draw(rng, max_frames)
        videos.append(render_all(scene, *RENDER))
        texts.append(prompt(processor, question) + answer + "<|im_end|>")
        answer_lens.append(len(processor.tokenizer(answer + "<|im_end|>").input_ids))
    inputs = video_inputs(processor, texts, videos)
    labels = torch.full_like(inputs["input_ids"], -100)
    for row, n_ans in enumerate(answer_lens):
        end = int(inputs["attention_mask"][row].sum())  # right padding: real tokens first
        labels[row, end - n_ans : end] = inputs["input_ids"][row, end - n_ans : end]
    inputs["labels"] = labels
    return inputs


def training_window(processor: Any, max_frames: int) -> tuple[int, int]:
    """Positions used by the longest training sequence (the ``when`` question, ``max_frames``
    frames) — ``max_position_embeddings`` of the shipped config, what PI/NTK/YaRN scale against —
    and the visual tokens of the longest training video (VCWE's visual context window)."""
    from vlmctx.position import layouts_from_mm_inputs
    from vlmctx.position.ids import base_position_ids
    from vlmctx.video.synthetic.toy_scenes import QUESTIONS, Scene, render_all

    video = render_all(Scene(frames=max_frames), *RENDER)
    longest = max(QUESTIONS.values(), key=len)
    inputs = video_inputs(processor, [prompt(processor, longest) + "15<|im_end|>"], [video])
    (layout,) = layouts_from_mm_inputs(
        inputs["mm_token_type_ids"], 2, None, inputs["video_grid_thw"]
    )
    _, nxt = base_position_ids(layout, mrope=True)
    return int(nxt), layout.n_visual


def _lr(step: int, steps: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def accuracy(model: Any, processor: Any, frames: int, per_task: int, seed: int) -> dict[str, float]:
    """Greedy exact-match accuracy per task on fresh items of ``frames`` frames (held-out seed)."""
    import torch

    from vlmctx.video.synthetic.toy_scenes import TASKS, make_item, render_all

    rng = np.random.default_rng(seed)
    out = {}
    tok = processor.tokenizer
    tok.padding_side = "left"
    for task in TASKS:
        items = [make_item(task, frames, rng) for _ in range(per_task)]
        texts = [prompt(processor, q) for _, q, _ in items]
        inputs = video_inputs(processor, texts, [render_all(s, *RENDER) for s, _, _ in items])
        with torch.inference_mode():
            gen = model.generate(**inputs, max_new_tokens=8, do_sample=False)
        preds = tok.batch_decode(gen[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        out[task] = sum(p.strip() == a for p, (_, _, a) in zip(preds, items, strict=True)) / len(
            items
        )
    tok.padding_side = "right"
    return out


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Train, evaluate at the trained length, and save a loadable checkpoint to ``args.out``
    (``None``: the shipped checkpoint, :data:`SHIPPED`)."""
    import torch
    from tqdm import tqdm

    from vlmctx_pipelines.toylab.model import MAX_PIXELS, ROPE_THETA, build_model, build_processor

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    frame_pixels = getattr(args, "frame_pixels", MAX_PIXELS)
    rope_theta = getattr(args, "rope_theta", ROPE_THETA)
    processor = build_processor(frame_pixels)
    processor.tokenizer.padding_side = "right"
    window, visual = training_window(processor, args.max_frames)
    model = build_model(processor, window, rope_theta)
    n_params = sum(p.numel() for p in model.parameters())
    log.info(
        "toylab: %.2fM parameters, window %d positions, visual window %d tokens",
        n_params / 1e6,
        window,
        visual,
    )
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    rng = np.random.default_rng(args.seed)  # batches built in this process: ~0.15 s each
    t0, losses = time.perf_counter(), []
    bar = tqdm(range(args.steps), desc="toylab train", disable=args.no_progress)
    model.train()
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = _lr(step, args.steps, args.lr, args.warmup)
        batch = make_batch(processor, rng, args.batch, args.max_frames)
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
    train_s = time.perf_counter() - t0
    model.eval()
    acc = accuracy(model, processor, args.max_frames, args.eval_items, args.seed + 1)
    summary = {
        "steps": args.steps,
        "batch": args.batch,
        "lr": args.lr,
        "warmup": args.warmup,
        "seed": args.seed,
        "max_frames": args.max_frames,
        "threads": args.threads,
        "frame_pixels": frame_pixels,
        "rope_theta": rope_theta,
        "visual_window": visual,
        "parameters": n_params,
        "train_seconds": round(train_s, 1),
        "final_loss": round(float(np.mean(losses[-50:])), 4),
        "loss_every_100": [
            round(float(np.mean(losses[i : i + 100])), 4) for i in range(0, len(losses), 100)
        ],
        "accuracy_at_trained_length": acc,
    }
    save(model, processor, Path(args.out or SHIPPED), window, visual, args.max_frames, summary)
    return summary


def _variant_flags(summary: dict) -> str:
    """The ``--frame-pixels`` / ``--rope-theta`` flags of a non-default model (empty for the
    shipped recipe), so the recorded command retrains the same variant."""
    from vlmctx_pipelines.toylab.model import MAX_PIXELS, ROPE_THETA

    flags = ""
    if summary.get("frame_pixels", MAX_PIXELS) != MAX_PIXELS:
        flags += f" --frame-pixels {summary['frame_pixels']}"
    if summary.get("rope_theta", ROPE_THETA) != ROPE_THETA:
        flags += f" --rope-theta {summary['rope_theta']:g}"
    return flags


def save(
    model: Any, processor: Any, out: Path, window: int, visual: int, frames: int, summary: dict
) -> None:
    """Write a checkpoint that ``from_pretrained`` loads, with ``vlmctx.json`` beside it."""
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    meta = {
        "name": "toylab",
        "time_prefix": False,
        "trained_frames": frames,
        "trained_fps": 1.0,
        "visual_window": visual,
        "position_window": window,
        "training": summary,
        # the seed picks the initial weights and every training question (a fresh clip set)
        "command": f"vlmctx toylab train --seed {summary['seed']}{_variant_flags(summary)} "
        "(pipelines/toylab/train.py; the other settings under 'training')",
    }
    (out / "vlmctx.json").write_text(json.dumps(meta, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    from vlmctx_pipelines.toylab.cli import add_args

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_args(p)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    summary = train(args)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
