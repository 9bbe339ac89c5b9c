"""The toy lab's synthetic long-video tasks (ball, needle, count, order, when), generated locally."""

from vlmctx_eval.tasks.toylab.task import ToyLab, generate_toylab

__all__ = ["ToyLab", "generate_toylab"]
