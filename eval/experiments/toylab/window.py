"""How VCWE's frequency rule splits the rotary frequencies: the toy lab, its realistic-window
variant, and the real model cards (issue 20, part 3).

VCWE (arXiv 2409.20018; ``vlmctx.position.schemes.VCWE``) extends RoPE with YaRN's ramp
(arXiv 2309.00071 Eq. 18-19) on the *visual* context window ``L_v``: frequency ``j``, wavelength
``2*pi*theta^(2j/d)``, is kept when it turns more than 32 times within ``L_v``, fully interpolated
(divided by ``s``) when it turns less than once, and ramped in between. The share in each band
depends on ``L_v`` and ``theta`` only (``ln(L_v / 2 pi) / ln(theta)`` of the frequencies turn at
least once), so a 16-token window at theta 10,000 interpolates nearly all of them, a 16,384-token
window at theta 10^6 fewer than half. In the ``apply_to=all`` reading that split is applied to the
text too, so it decides how much of the text's RoPE the reading changes.

Every split below is read off the scheme's own report (``frequencies_kept`` /
``frequencies_changed_otherwise`` / ``frequencies_interpolated`` in ``Positions.info``) for a
video of twice the window (``s = 2``), with the head_dim / theta / window of each card
(``vlmctx.models.cards``) and of the two toy checkpoints (``pipelines/toylab``).

    python -m vlmctx_eval.experiments.toylab.window          # prints the table, writes toylab_window_split.md
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"

# The toy lab's language model (pipelines/toylab/model.py: width 128, 4 heads, mrope [4, 6, 6]) and
# its visual window at each --frame-pixels (measured by pipelines/toylab/train.training_window:
# 16 frames of 4:3 video at 1 token per frame, and at 3 tokens per frame).
TOYS = (
    ("toy lab (shipped): 1 token/frame, theta 10^4", 32, 10_000.0, 16, (4, 6, 6)),
    ("toy lab window variant: 3 tokens/frame, theta 100", 32, 100.0, 48, (4, 6, 6)),
)


def split(
    head_dim: int,
    theta: float,
    window: int,
    factor: float = 2.0,
    mrope_section: tuple[int, ...] | None = None,
) -> dict[str, Any]:
    """VCWE's per-frequency split for a video of ``factor`` x ``window`` visual tokens, as the
    scheme reports it, plus the wavelength bounds of the bands (in positions) and, for chunked
    M-RoPE (``mrope_section``), the split of the temporal axis's frequencies alone."""
    from vlmctx.position import rope
    from vlmctx.position.schemes import VCWE
    from vlmctx.position.types import RopeSpec, TokenLayout, VisualSpan

    spec = RopeSpec(
        head_dim=head_dim,
        rope_theta=theta,
        max_position_embeddings=window * 4,
        visual_window=window,
    )
    n = int(window * factor)
    layout = TokenLayout(torch.full((n,), 2, dtype=torch.int64), (VisualSpan(0, (n, 1, 1)),))
    tables = VCWE(apply_to="all").positions(layout, spec)
    info = tables.info
    half = head_dim // 2
    temporal = None
    if mrope_section is not None:  # which band each temporal frequency fell in
        ratio = tables.inv_freq[0] / rope.default_inv_freq(head_dim, theta)
        t = torch.nonzero(rope.mrope_axis_of_frequency(mrope_section) == 0).flatten()
        kept = torch.isclose(ratio[t], torch.ones(len(t)), rtol=1e-6, atol=0.0)
        full = torch.isclose(ratio[t], torch.full((len(t),), 1 / info["factor"]), rtol=1e-6, atol=0)
        temporal = [int(kept.sum()), int((~kept & ~full).sum()), int(full.sum()), len(t)]
    return {
        "head_dim": head_dim,
        "rope_theta": theta,
        "visual_window": window,
        "factor": float(info["factor"]),
        "kept": int(info["frequencies_kept"]),
        "ramped": int(info["frequencies_changed_otherwise"]),
        "interpolated": int(info["frequencies_interpolated"]),
        "frequencies": half,
        # the rule keeps wavelengths below L_v/32 and fully interpolates those above L_v
        "kept_below_wavelength": window / 32.0,
        "shortest_wavelength": 2 * math.pi,
        "longest_wavelength": 2 * math.pi * theta ** ((head_dim - 2) / head_dim),
        "temporal": temporal,
    }


def rows() -> list[tuple[str, dict[str, Any]]]:
    """The two toys, then the cards with a declared visual window, one row per distinct
    head_dim / theta / window / M-RoPE layout (the checkpoints sharing it named together)."""
    from vlmctx.models.cards import cards

    out = [(name, split(d, th, w, mrope_section=sec)) for name, d, th, w, sec in TOYS]
    groups: dict[tuple, list[str]] = {}
    for c in cards():
        if c.visual_window is None:
            continue
        t, rope_params = c.text, c.config["text_config"].get("rope_parameters", {})
        sec = t["mrope_section"]
        sec = tuple(sec) if sec and not rope_params.get("mrope_interleaved") else None
        key = (t["head_dim"], float(t["rope_theta"]), c.visual_window, sec)
        groups.setdefault(key, []).append(c.hub_id)
    for (d, theta, window, sec), ids in groups.items():
        name = ids[0] + "".join(f", {i.split('/')[-1]}" for i in ids[1:])
        out.append((name, split(d, theta, window, mrope_section=sec)))
    return out


def _temporal(t: list[int] | None) -> str:
    return "– (1-D RoPE)" if t is None else f"{t[0]} / {t[1]} / {t[2]} of {t[3]}"


def markdown(table: list[tuple[str, dict[str, Any]]]) -> str:
    lines = [
        "# VCWE's frequency split: toy lab, realistic-window variant, real cards",
        "",
        "Frequencies of one head (d/2) that VCWE keeps / ramps / fully interpolates for a video of "
        "twice the visual window (s = 2), from the scheme's own report "
        "(`python -m vlmctx_eval.experiments.toylab.window`). Kept: wavelength below L_v/32 positions; fully "
        "interpolated: wavelength above L_v (the ramp's ends are rounded outward to whole "
        "frequencies, YaRN's truncation, so frequency 0, wavelength 2π, is kept even where "
        "L_v/32 is below 2π).",
        "",
        "| model | head_dim | theta | visual window L_v | kept / ramped / interpolated "
        "| % kept / ramped / interpolated | kept wavelengths < | M-RoPE temporal axis: "
        "kept / ramped / interpolated |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in table:
        n = r["frequencies"]
        pct = "/".join(f"{100 * r[k] / n:.0f}" for k in ("kept", "ramped", "interpolated"))
        lines.append(
            f"| {name} | {r['head_dim']} | {r['rope_theta']:g} | {r['visual_window']} | "
            f"{r['kept']} / {r['ramped']} / {r['interpolated']} of {n} | {pct} | "
            f"{r['kept_below_wavelength']:.1f} | {_temporal(r['temporal'])} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(RESULTS / "toylab_window_split.md"))
    args = p.parse_args(argv)
    text = markdown(rows())
    Path(args.out).write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
