"""vlmctx room: pipelines (see ARCHITECTURE.md)."""
