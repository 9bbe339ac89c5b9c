"""Generate a visual needle-in-a-haystack (V-NIAH) set locally, no downloads.

After LongVA's V-NIAH (arXiv 2406.16852): a haystack video of ``n`` frames with one needle frame
placed at a relative depth, and a question only the needle answers. Here the haystack is synthetic
(smoothly drifting colored discs on a moving gradient, seeded, free of digits) and the needle is a
white card with a large random 4-digit code and a red frame; the question asks for the code, so
exact match is unambiguous. Videos are H.264 (:func:`vlmctx.video.synthetic.writer.write_h264`) at
``fps`` so a frame-rate sampler can see every frame; the index ``vniah.jsonl`` records where the
needle is for each video.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from vlmctx.video.synthetic.writer import write_h264
from vlmctx_eval.harness.records import remove_stale_parts

QUESTION = (
    "One frame of this video shows a secret code: a number written in large digits on a white "
    "card. What is the secret code? Answer with the number only."
)


def haystack_frame(t: int, size: int, seed: int) -> np.ndarray:
    """Frame ``t`` of the seeded haystack: (size, size, 3) uint8, no text or digits."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 2 * np.pi, size=3)
    yy, xx = np.mgrid[0:size, 0:size] / size  # (h, w) coordinates in [0, 1)
    phase = 0.07 * t
    rgb = [0.5 + 0.35 * np.sin(2 * np.pi * (xx + yy) / 2 + base[c] + phase) for c in range(3)]
    img = Image.fromarray((np.stack(rgb, -1) * 255).astype(np.uint8))  # (h, w, 3)
    draw = ImageDraw.Draw(img)
    for k in range(5):
        cx0, cy0, vx, vy = rng.uniform(0, 1, 4)
        r = size * (0.05 + 0.08 * rng.uniform())
        cx = size * ((cx0 + 0.013 * t * (vx - 0.5)) % 1.0)
        cy = size * ((cy0 + 0.013 * t * (vy - 0.5)) % 1.0)
        color = tuple(int(c) for c in rng.integers(30, 226, 3))
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
        del k
    return np.asarray(img)


def needle_frame(code: str, size: int) -> np.ndarray:
    """A white card with a red border and ``code`` in large black digits: (size, size, 3) uint8."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    border = max(2, size // 24)
    draw.rectangle([0, 0, size - 1, size - 1], outline=(220, 20, 20), width=border)
    font = ImageFont.load_default(size=max(10, size // 4))
    small = ImageFont.load_default(size=max(8, size // 12))
    draw.text((size / 2, size * 0.3), "SECRET CODE", fill=(0, 0, 0), font=small, anchor="mm")
    draw.text((size / 2, size * 0.6), code, fill=(0, 0, 0), font=font, anchor="mm")
    return np.asarray(img)


def needle_index(n_frames: int, depth: float, span: int) -> int:
    """First needle frame for a relative ``depth`` in [0, 1]."""
    return int(round(depth * (n_frames - span)))


def generate_vniah(
    out_dir: str,
    frames: Sequence[int] = (16, 32, 64),
    depths: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    fps: float = 1.0,
    size: int = 336,
    seed: int = 0,
    span: int = 1,
) -> str:
    """Write one video per (haystack length, depth) and the index ``vniah.jsonl``; return it.

    Temporary files a killed generation left behind are removed first, and this one's own on
    failure."""
    os.makedirs(out_dir, exist_ok=True)
    remove_stale_parts(out_dir)
    try:
        return _generate(out_dir, frames, depths, fps, size, seed, span)
    except BaseException:
        remove_stale_parts(out_dir, own=True)
        raise


def _generate(
    out_dir: str,
    frames: Sequence[int],
    depths: Sequence[float],
    fps: float,
    size: int,
    seed: int,
    span: int,
) -> str:
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    for n in frames:
        if n < span:
            raise ValueError(f"haystack of {n} frames cannot hold a needle of {span} frames")
        hay = [haystack_frame(t, size, seed) for t in range(n)]
        for depth in depths:
            code = str(rng.randint(1000, 9999))
            at = needle_index(n, float(depth), span)
            video = hay[:at] + [needle_frame(code, size)] * span + hay[at + span :]
            name = f"vniah_f{n}_d{int(round(float(depth) * 100)):03d}.mp4"
            write_h264(os.path.join(out_dir, name), video, size, size, fps)  # crf 18, veryfast
            records.append(
                {
                    "id": f"vniah/f{n}/d{float(depth):.2f}",
                    "video": name,
                    "question": QUESTION,
                    "answer": code,
                    "frames": n,
                    "depth": float(depth),
                    "needle_index": at,
                    "needle_span": span,
                    "fps": fps,
                    "size": size,
                    "seed": seed,
                }
            )
    index = os.path.join(out_dir, "vniah.jsonl")
    with open(index + ".tmp", "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in records)
    os.replace(index + ".tmp", index)
    return index
