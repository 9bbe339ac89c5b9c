"""The toy-lab experiment: ``vlmctx toylab run`` (experiment), its statistics (stats) and the
window-split variant (window)."""
