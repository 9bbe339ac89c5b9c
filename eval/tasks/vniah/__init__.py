"""Visual needle-in-a-haystack (V-NIAH), generated locally."""

from vlmctx_eval.tasks.vniah.generate import generate_vniah
from vlmctx_eval.tasks.vniah.task import VNIAH

__all__ = ["VNIAH", "generate_vniah"]
