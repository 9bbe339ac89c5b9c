"""Helpers shared by several tasks (MCQ letter parsing, the LLM judge client, text metrics,
release-folder loading), so that no task imports another task's module."""
