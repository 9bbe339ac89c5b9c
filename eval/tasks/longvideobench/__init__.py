"""LongVideoBench (val), read from its release folder."""

from vlmctx_eval.tasks.longvideobench.task import LongVideoBench

__all__ = ["LongVideoBench"]
