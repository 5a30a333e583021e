"""Memory: the local embedder, the stores, hybrid search and documents."""
