"""A decoder for the timeout test: decodes normally, except that it never returns for files whose
name contains ``hang`` (what a wedged decoder does); the pool must kill it and go on."""

from __future__ import annotations

import time

from vlmctx_pipelines.batch.decode import decode_video


def decode(path: str, config):  # noqa: ANN001, ANN201
    if "hang" in path:
        time.sleep(3600)
    return decode_video(path, config)
