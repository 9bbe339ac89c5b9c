"""Everything a request needs before it may wait for the model, done without the model.

In order: the configuration is built by the registries (``check_config``: unknown names and
parameters refused, schemes that do not apply to the family refused); the medium is fetched under
the access rules (:mod:`vlmctx_serve.media`); a video is probed and its frames selected (nothing
decoded), the frame count capped by ``--max-frames``; with ``--max-memory`` the memory planner
estimates the request and refuses it (413, the plan in the error) before any frame is decoded;
subtitles are read. An image becomes a one-frame clip. The request's frames are decoded later,
under the queue's slot, by ``VideoLM.ask``.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vlmctx.engine import VideoLM, check_config
from vlmctx.errors import MemoryLimitError, VlmctxError
from vlmctx.planner import Planner, check_memory_limit
from vlmctx.video.types import Frames, VideoInfo
from vlmctx_serve.errors import APIError, bad_request
from vlmctx_serve.media import MediaFetcher
from vlmctx_serve.request import ChatRequest
from vlmctx_serve.settings import ServeSettings

MAX_RESIZE_PIXELS = 1920 * 1080  # frames a sampler may scale a video up to
MAX_IMAGE_PIXELS = 50_000_000  # refused before decoding (PIL warns at 89M: a decompression bomb)


@dataclass
class Prepared:
    """A request ready to run: the model under its config, the video (path or frames)."""

    lm: VideoLM
    video: str | Frames | None
    subtitles: Any
    fetcher: MediaFetcher
    facts: dict[str, Any] = field(default_factory=dict)  # for the response's vlmctx field

    def close(self) -> None:
        self.fetcher.close()


class Preparer:
    """Prepares requests for one loaded model; the memory planner is built once, on first use."""

    def __init__(self, lm: VideoLM, settings: ServeSettings) -> None:
        self.lm, self.settings = lm, settings
        self._planner: Planner | None = None
        self._planner_lock = threading.Lock()

    def prepare(self, req: ChatRequest) -> Prepared:
        """Run in a worker thread; raises :class:`APIError` for anything refused."""
        try:
            check_config(req.config, self.lm.adapter)  # the registries, as for `vlmctx ask`
        except VlmctxError as exc:
            raise bad_request(str(exc), None, "invalid_vlmctx_option") from None
        lm = self.lm.with_config(req.config)  # same weights, lock and decoded-frames cache
        fetcher = MediaFetcher(self.settings, "messages")
        try:
            return self._prepare(req, lm, fetcher)
        except BaseException:
            fetcher.close()
            raise

    def _prepare(self, req: ChatRequest, lm: VideoLM, fetcher: MediaFetcher) -> Prepared:
        video: str | Frames | None = None
        facts: dict[str, Any] = {}
        if req.media is not None:
            kind, url, param = req.media
            fetcher.param = param
            path = fetcher.local_file(url, kind)
            video = self._image(path, req) if kind == "image" else path
            info, selection = self._select(video, req)
            size = _frame_size(info, selection, req)
            facts["medium"] = {"kind": kind, "source": _source(url)}
            if self.settings.max_memory is not None:
                facts["plan"] = self._check_plan(req, len(selection), size, selection, info)
        subtitles = None
        if req.subtitles is not None:
            subtitles = self._subtitles(req, fetcher)
        return Prepared(lm, video, subtitles, fetcher, facts)

    def _select(self, video: str | Frames, req: ChatRequest) -> tuple[VideoInfo, Any]:
        """The video's probe and the sampler's selection (nothing decoded); caps the count."""
        if isinstance(video, Frames):
            return video.info, video
        from vlmctx.video import SAMPLERS, probe

        try:
            info = probe(video)
            sampler = SAMPLERS.create(req.config.sampler, **dict(req.config.sampler_params))
            selection = sampler.select(info)
        except VlmctxError as exc:
            raise bad_request(str(exc), "messages", "invalid_video") from None
        if selection.resize is not None:  # a token-budget sampler may scale frames up
            h, w = selection.resize
            if h * w > max(info.width * info.height, MAX_RESIZE_PIXELS):
                raise bad_request(f"the sampler asks for {w}x{h} frames, larger than the video "
                                  f"and than {MAX_RESIZE_PIXELS:,} pixels", "sampler_args")  # fmt: skip
        if len(selection) > self.settings.max_frames:
            raise bad_request(f"the request samples {len(selection)} frames; the server's "
                              f"--max-frames is {self.settings.max_frames}", "frames",
                              "too_many_frames")  # fmt: skip
        return info, selection

    def _check_plan(self, req: ChatRequest, n: int, size: Any, selection: Any, info: Any) -> dict:
        """The memory plan of the request; 413 with the plan when it exceeds --max-memory."""
        planner = self._get_planner()
        dtype = str(self.lm.loaded.model.dtype).removeprefix("torch.")
        try:
            count = planner.count(n, size, req.question, selection.pts_s, info.duration_s)
            plan = planner.plan(count, req.config.pooling, dict(req.config.pooling_params), dtype)
        except VlmctxError as exc:
            raise bad_request(str(exc), None, "plan_failed") from None
        try:
            check_memory_limit(plan, self.settings.max_memory)
        except MemoryLimitError as exc:
            msg = str(exc).replace("--frames", "frames").replace("--max-pixels", "max_pixels")
            raise APIError(413, msg, param="frames", code="plan_exceeds_max_memory",
                           extra={"plan": plan.to_dict()}) from None  # fmt: skip
        return {"peak_prefill_bytes": plan.peak_prefill_bytes, "total_tokens": plan.total_tokens}

    def _get_planner(self) -> Planner:
        with self._planner_lock:
            if self._planner is None:
                self._planner = Planner(self.lm.model_id)
            return self._planner

    def _image(self, path: str, req: ChatRequest) -> Frames:
        """An image as a one-frame clip (RGB, shrunk to the config's max_pixels)."""
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as img:
                w, h = img.size
                if w * h > MAX_IMAGE_PIXELS:
                    raise bad_request(f"the image has {w}x{h} pixels; at most "
                                      f"{MAX_IMAGE_PIXELS:,} are read", "messages")  # fmt: skip
                rgb = img.convert("RGB")
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
            raise bad_request("the image_url does not hold a readable image", "messages") from None
        pixels = req.config.max_pixels
        if pixels is not None and w * h > pixels:
            scale = math.sqrt(pixels / (w * h))
            rgb = rgb.resize((max(1, math.floor(w * scale)), max(1, math.floor(h * scale))))
        data = np.array(rgb, dtype=np.uint8)[None]  # (1, h, w, 3)
        pts = np.zeros(1, np.float64)
        info = VideoInfo("image", 1, 1.0, 1.0, data.shape[2], data.shape[1], 0, "image", False,
                         pts, np.zeros(1, np.int64))  # fmt: skip
        return Frames(data, np.zeros(1, np.int64), pts, "image", info, sample_fps=1.0)

    def _subtitles(self, req: ChatRequest, fetcher: MediaFetcher) -> Any:
        from vlmctx.video.subtitles import Subtitles

        assert req.subtitles is not None
        if req.media is None:
            raise bad_request("subtitles need a video_url", "subtitles")
        fetcher.param = "subtitles"
        path = fetcher.local_file(req.subtitles["url"], "subtitles")
        try:
            return Subtitles.load(path, max_tokens=req.subtitles["tokens"],
                                  placement=req.subtitles["placement"])  # fmt: skip
        except VlmctxError as exc:
            raise bad_request(str(exc), "subtitles") from None


def _frame_size(info: VideoInfo, selection: Any, req: ChatRequest) -> tuple[int, int]:
    if isinstance(selection, Frames):
        return int(selection.data.shape[1]), int(selection.data.shape[2])
    from vlmctx.video.reader import output_size

    return output_size(info, selection.resize, req.config.max_pixels)


def _source(url: str) -> str:
    """What the response says the medium was: the URL's scheme and name, never a data payload."""
    if url.startswith("data:"):
        return url.split(",", 1)[0] + ",..."
    return url[:300]


def error_from(exc: BaseException) -> APIError:
    """An error of the library met while running a request, as an API error."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, MemoryLimitError):
        return APIError(413, str(exc), code="plan_exceeds_max_memory")
    if isinstance(exc, VlmctxError):
        return bad_request(str(exc), None, type(exc).__name__)
    return APIError(500, f"internal error ({type(exc).__name__}); the server log has details",
                    code="internal_error")  # fmt: skip
