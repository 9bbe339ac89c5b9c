"""vlmctx room: eval/bench (see ARCHITECTURE.md)."""
