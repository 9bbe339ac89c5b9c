"""Import the built-in task packages so they register in ``TASKS``."""

from __future__ import annotations

import importlib
import logging

from vlmctx_eval.tasks.base import TASKS

log = logging.getLogger(__name__)
BUILTIN = (
    "vlmctx_eval.tasks.mmlongbench",
    "vlmctx_eval.tasks.longvideo_mcq",
    "vlmctx_eval.tasks.vniah",
    "vlmctx_eval.tasks.toylab",
    "vlmctx_eval.tasks.videomme",
    "vlmctx_eval.tasks.mlvu",
    "vlmctx_eval.tasks.longvideobench",
    "vlmctx_eval.tasks.lvbench",
    "vlmctx_eval.tasks.charades_sta",
)
OPTIONAL = ("vlmctx_eval.tasks.videogen",)

__all__ = ["TASKS", "listing", "load_builtin_tasks"]


def load_builtin_tasks() -> None:
    for mod in BUILTIN:
        importlib.import_module(mod)
    for mod in OPTIONAL:  # tasks whose extra dependencies may be missing
        try:
            importlib.import_module(mod)
        except ImportError as exc:
            log.debug("optional task package %s not loaded: %s", mod, exc)


def listing() -> tuple[str, dict[str, dict]]:
    """``vlmctx ls``'s section for the benchmark tasks (entry point ``vlmctx.listings``: the
    library lists them without importing this room): name -> summary and parameters."""
    import inspect

    load_builtin_tasks()
    tasks = {
        e.name: {
            "summary": e.summary,
            "parameters": {
                k: (None if v is inspect.Parameter.empty else v) for k, v in e.parameters().items()
            },
        }
        for e in TASKS
    }
    return "eval tasks (vlmctx eval --tasks NAME --task-arg NAME:KEY=VALUE)", tasks
