"""vlmctx room: eval (see ARCHITECTURE.md)."""
