"""Performance benchmarks of the pipelines (the batch job); results in ``results/``.

They live in this room, not in ``eval/bench/``, because they drive pipeline code and the eval room
must not import the pipelines room (docs/architecture-notes.md).
"""
