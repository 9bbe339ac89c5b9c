"""Building blocks of the batch video-QA job (:mod:`vlmctx_pipelines.batch.qa`).

``items`` turns a folder or a CSV/JSONL manifest into (id, video, question) items; ``store`` is
the crash-safe JSONL output (append + fsync per record, torn-tail repair, resume); ``decode`` is
the prefetching pool of decode worker processes with per-item timeouts; ``schedule`` orders jobs
longest-first and hands them out through a queue shared by every ``accelerate`` rank;
``ray_engine`` runs the same job on Ray Data model actors (``--engine ray``, past one machine).
"""
