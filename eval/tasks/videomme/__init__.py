"""Video-MME, read from its release folder (with or without subtitles)."""

from vlmctx_eval.tasks.videomme.task import VideoMME

__all__ = ["VideoMME"]
