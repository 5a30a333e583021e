"""Memory: the local embedder (and, later, the stores and search)."""
