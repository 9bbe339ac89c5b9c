"""Procedural scenes with known answers: the toy lab's long-video tasks and the bundled sample.

A :class:`Scene` is a dark-blue sky over a green ground strip with a big ball of one colour crossing
it, plus timed events (a square over the top-right quarter that appears and stays, a one-frame
colour card, a one-frame big shape on a black card, a full-frame colour flash), with optional
pixel noise. The signals are large on purpose: the toy model sees each frame at 32x32 pixels. It renders any frame at any size from
relative coordinates, so the same scene is a 64x48 training frame or a 320x240 video, and any
number of frames: a task's answer can depend on a frame anywhere in a video of any length.

:func:`make_item` draws one question of a toy-lab task (deterministic given the RNG):

- ``ball`` — "What colour is the ball?" (visible in every frame);
- ``needle`` — "What colour is the odd frame?" (one frame is a card of one colour);
- ``count`` — "How many red flashes?" (1-4 single-frame flashes, in different frame pairs);
- ``order`` — "Which came first, the square or the circle?" (a one-frame yellow square and a
  one-frame purple circle, each on a black card);
- ``when`` — "At what second does the green square appear?" (appears and stays; at 1 fps the
  answer is the frame index).

The bundled sample video (``vlmctx.runtime.assets``) is the scene ``sample_scene()``: a red ball, and a
green square that appears at 8.0 s of 12 s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 200, 60),
    "blue": (70, 120, 245),
    "yellow": (235, 215, 40),
    "white": (235, 235, 235),
    "purple": (175, 70, 215),
}
SKY, GROUND = (20, 30, 90), (40, 90, 40)
TASKS = ("ball", "needle", "count", "order", "when")
QUESTIONS = {
    "ball": "What colour is the ball?",
    "needle": "What colour is the odd frame?",
    "count": "How many red flashes?",
    "order": "Which came first, the square or the circle?",
    "when": "At what second does the green square appear?",
}


@dataclass(frozen=True)
class Event:
    """``kind`` square | circle | flash, shown on frames ``[start, stop)`` (stop None = to the
    end); ``where`` centre (a big shape on a black card), card (the whole frame) or corner (the
    top-right quarter, as in the sample)."""

    kind: str
    colour: str
    start: int
    stop: int | None = None
    where: str = "centre"

    def visible(self, i: int) -> bool:
        return i >= self.start and (self.stop is None or i < self.stop)


@dataclass(frozen=True)
class Scene:
    """A renderable clip of ``frames`` frames at ``fps``."""

    frames: int
    fps: float = 1.0
    ball: str = "red"
    direction: int = 1  # +1 left to right, -1 right to left
    phase: float = 0.0  # of the ball's vertical bob
    noise: float = 0.0  # pixel noise std as a fraction of 255
    seed: int = 0
    events: tuple[Event, ...] = field(default_factory=tuple)

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps


def render(scene: Scene, i: int, width: int, height: int) -> np.ndarray:
    """Frame ``i`` of ``scene`` as (height, width, 3) uint8 RGB."""
    h, w = height, width
    img = np.empty((h, w, 3), np.float32)
    img[:] = SKY
    img[h - h // 6 :] = GROUND
    yy, xx = np.ogrid[:h, :w]
    t, dur = i / scene.fps, scene.duration_s
    r = max(1.0, h / 3)
    frac = t / dur if scene.direction > 0 else 1 - t / dur
    cx = r + (w - 2 * r) * frac
    cy = h / 2 + h / 8 * np.sin(2 * np.pi * t / 3 + scene.phase)
    img[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = COLOURS[scene.ball]
    for ev in scene.events:
        if not ev.visible(i):
            continue
        colour = np.array(COLOURS[ev.colour], np.float32)
        if ev.kind == "flash":
            img = 0.35 * img + 0.65 * colour
        elif ev.where == "corner":  # the sample's square: the top-right quarter of the frame
            img[: h // 2, w - w // 2 :] = colour
        elif ev.where == "card":  # the whole frame is a card of this colour
            img[:] = colour
        elif ev.kind == "square":  # a big shape on a black card
            s = int(h * 0.3)
            img[:] = 0
            img[h // 2 - s : h // 2 + s, w // 2 - s : w // 2 + s] = colour
        elif ev.kind == "circle":
            img[:] = 0
            img[(yy - h / 2) ** 2 + (xx - w / 2) ** 2 <= (0.34 * h) ** 2] = colour
    if scene.noise > 0:
        rng = np.random.default_rng((scene.seed, i))
        img += rng.normal(0.0, 255 * scene.noise, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def render_all(scene: Scene, width: int, height: int) -> np.ndarray:
    """All frames, (t, height, width, 3) uint8."""
    return np.stack([render(scene, i, width, height) for i in range(scene.frames)])


def sample_scene() -> Scene:
    """The bundled sample: 12 s at 30 fps, a red ball, a green square from 8.0 s on."""
    return Scene(
        frames=360, fps=30.0, ball="red", events=(Event("square", "green", 240, None, "corner"),)
    )


def _pick(rng: np.random.Generator, options: list[str] | tuple[str, ...]) -> str:
    return str(options[int(rng.integers(len(options)))])


def _slots(rng: np.random.Generator, frames: int, k: int) -> list[int]:
    """``k`` frame indices (fewer if the video is too short) in distinct, non-adjacent frame pairs,
    so a model that sees frames two at a time, as Qwen2-VL does, still sees them apart."""
    pairs = max(frames // 2, 1)
    k = max(1, min(k, (pairs + 1) // 2))
    # k sorted picks among pairs - (k - 1) places, spread by +0, +1, ... -> gaps of >= 2 pairs
    picks = np.sort(rng.choice(pairs - (k - 1), size=k, replace=False)) + np.arange(k)
    return [int(2 * p + (rng.integers(2) if 2 * p + 1 < frames else 0)) for p in picks]


def make_item(task: str, frames: int, rng: np.random.Generator) -> tuple[Scene, str, str]:
    """One (scene, question, answer) of ``task`` with ``frames`` frames at 1 fps.

    Half the scenes of the other kinds also get the ``when`` square as a distractor, so a question
    is answered in scenes where other things happen too (as in the sample video).
    """
    ball = _pick(rng, list(COLOURS))
    base = dict(
        frames=frames,
        fps=1.0,
        ball=ball,
        direction=1 if rng.random() < 0.5 else -1,
        phase=float(rng.uniform(0, 2 * np.pi)),
        noise=float(rng.uniform(0, 0.04)),
        seed=int(rng.integers(2**31)),
    )
    events: tuple[Event, ...]
    if task == "ball":
        events, answer = (), ball
    elif task == "needle":
        colour = _pick(rng, [c for c in COLOURS if c != ball])
        i = int(rng.integers(frames))
        events, answer = (Event("square", colour, i, i + 1, "card"),), colour
    elif task == "count":
        k = int(rng.integers(1, 5))
        slots = _slots(rng, frames, k)
        events = tuple(Event("flash", "red", i, i + 1) for i in slots)
        answer = str(len(slots))
    elif task == "order":
        slots = _slots(rng, frames, 2)
        a, b = slots if len(slots) == 2 else (0, frames - 1)
        first = "square" if rng.random() < 0.5 else "circle"
        second = "circle" if first == "square" else "square"
        shade = {"square": "yellow", "circle": "purple"}
        events = (Event(first, shade[first], a, a + 1), Event(second, shade[second], b, b + 1))
        answer = first
    elif task == "when":
        s = int(rng.integers(1, frames))
        events, answer = (Event("square", "green", s, None, "corner"),), str(s)
    else:
        raise ValueError(f"unknown toy-lab task {task!r}; known: {', '.join(TASKS)}")
    if task != "when" and rng.random() < 0.5:  # a distractor: the green square of `when`
        events += (Event("square", "green", int(rng.integers(1, frames)), None, "corner"),)
    return Scene(events=events, **base), QUESTIONS[task], answer  # type: ignore[arg-type]
