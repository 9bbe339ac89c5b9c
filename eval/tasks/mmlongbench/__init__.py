"""MMLongBench (arXiv 2505.10610): data loading, official metrics, paper aggregation."""

from vlmctx_eval.tasks.mmlongbench.task import MMLongBench

__all__ = ["MMLongBench"]
