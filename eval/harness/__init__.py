"""The evaluation harness: run a model over a task's samples (resumable, sharded), record
predictions, check run identity, score, report and compare eval runs."""
