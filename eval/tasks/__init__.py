"""vlmctx room: eval/tasks (see ARCHITECTURE.md)."""
