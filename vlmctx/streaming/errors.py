"""The streaming session's errors (all :class:`~vlmctx.errors.VlmctxError`, so front ends print
one line). After a :class:`ChunkError` the session is unchanged and can take the next chunk."""

from __future__ import annotations

from vlmctx.errors import VideoDecodeError, VlmctxError


class SessionClosedError(VlmctxError):
    """``push`` or ``ask`` on a session that was closed."""


class ChunkError(VlmctxError):
    """A pushed chunk was refused (bad shape or dtype, timestamps going backwards, or the
    processor/model could not take it); nothing of it was kept."""


class SourceError(VideoDecodeError):
    """A live or file source could not be opened or stopped delivering frames (stall)."""


class SourceStalledError(SourceError):
    """A source delivered no frame within its stall timeout. The session is untouched; the
    source can be asked again (a live feed may recover) or closed."""


class CorruptChunkError(SourceError):
    """The frames of one chunk could not be decoded (damaged data); the source skipped them and
    goes on with the next chunk."""
