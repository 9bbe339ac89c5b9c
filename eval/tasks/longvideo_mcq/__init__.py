"""Long-video multiple-choice QA (MLVU / Video-MME / LongVideoBench-style records)."""

from vlmctx_eval.tasks.longvideo_mcq.task import LongVideoMCQ

__all__ = ["LongVideoMCQ"]
