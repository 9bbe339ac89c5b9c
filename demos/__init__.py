"""vlmctx room: demos (see ARCHITECTURE.md)."""
