"""Runtime helpers shared by the library and the rooms above it: the cache folder, the bundled
sample video, lazy imports, child-process environments and the Ray cluster connection."""
