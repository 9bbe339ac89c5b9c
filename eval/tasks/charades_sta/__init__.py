"""Temporal grounding in the Charades-STA format (mIoU, R@0.3/0.5/0.7)."""

from vlmctx_eval.tasks.charades_sta.task import CharadesSTA

__all__ = ["CharadesSTA"]
