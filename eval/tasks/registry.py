"""Import the built-in task packages so they register in ``TASKS``."""

from __future__ import annotations

import importlib
import logging

from eval.tasks.base import TASKS

log = logging.getLogger(__name__)
BUILTIN = (
    "eval.tasks.mmlongbench",
    "eval.tasks.longvideo_mcq",
    "eval.tasks.vniah",
    "eval.tasks.toylab",
)
OPTIONAL = ("eval.tasks.videogen",)

__all__ = ["TASKS", "load_builtin_tasks"]


def load_builtin_tasks() -> None:
    for mod in BUILTIN:
        importlib.import_module(mod)
    for mod in OPTIONAL:  # other rooms' tasks, when present
        try:
            importlib.import_module(mod)
        except ImportError as exc:
            log.debug("optional task package %s not loaded: %s", mod, exc)
