"""Official long-video benchmarks read from their release folders: Video-MME, MLVU (dev multiple
choice; dev generation with an LLM judge), LongVideoBench (val), LVBench. Importing the package
registers the tasks."""

from vlmctx_eval.tasks.benchmarks.longvideobench import LongVideoBench
from vlmctx_eval.tasks.benchmarks.lvbench import LVBench
from vlmctx_eval.tasks.benchmarks.mlvu import MLVU
from vlmctx_eval.tasks.benchmarks.mlvu_gen import MLVUGen
from vlmctx_eval.tasks.benchmarks.videomme import VideoMME

__all__ = ["MLVU", "LVBench", "LongVideoBench", "MLVUGen", "VideoMME"]
