"""One exception family for the whole toolkit.

Every error a user can cause (bad path, corrupt video, unknown model, a memory plan over
``--max-memory``) raises a subclass of :class:`VlmctxError` whose message says what went wrong *and
what to do*. The CLI turns these into a single line on stderr and a non-zero exit; anything else is
a bug and keeps its traceback.
"""

from __future__ import annotations


class VlmctxError(Exception):
    """Base class: a problem the user can fix; the message says how."""

    exit_code: int = 2


class ConfigError(VlmctxError, ValueError):
    """An unknown name, an unknown or invalid parameter, or an inconsistent configuration."""


class VideoError(VlmctxError):
    """Base for problems with an input video."""


class VideoNotFoundError(VideoError, FileNotFoundError):
    """The video path does not exist or is not a regular file."""


class VideoDecodeError(VideoError):
    """The file exists but holds no decodable video stream (empty, corrupt, audio-only, text)."""


class DecoderTimeoutError(VideoDecodeError, TimeoutError):
    """A decoder did not finish in time (decord is known to hang holding the GIL)."""


class BackendUnavailableError(VlmctxError):
    """A requested decoding backend is not installed or cannot load its libraries."""


class EmptySelectionError(VlmctxError):
    """A sampler selected zero frames (e.g. a window outside the video)."""


class UnsupportedModelError(VlmctxError):
    """The model's family has no adapter, or a method does not apply to this family."""


class ModelLoadError(VlmctxError):
    """A model could not be loaded (not on disk and no hub access, missing files...)."""


class BudgetExceededError(VlmctxError):
    """A streaming session's KV budget cannot hold what it must keep (sinks, the recent window)."""


class MemoryLimitError(VlmctxError):
    """A memory plan's estimated peak exceeds ``--max-memory``; refused before loading weights."""


class DataFormatError(VlmctxError):
    """A benchmark or input record is malformed."""


class ClusterLostError(VlmctxError):
    """The Ray cluster of ``--engine ray`` went away mid-run (head node stopped, network gone).
    Every record written so far is on disk; rerunning the same command resumes from them."""

    exit_code = 4
