"""MLVU (dev): multiple choice, and the generation tasks scored by an LLM judge. Importing the
package registers both tasks."""

from vlmctx_eval.tasks.mlvu.generation import MLVUGen
from vlmctx_eval.tasks.mlvu.task import MLVU

__all__ = ["MLVU", "MLVUGen"]
