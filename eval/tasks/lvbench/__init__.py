"""LVBench, read from its release folder."""

from vlmctx_eval.tasks.lvbench.task import LVBench

__all__ = ["LVBench"]
