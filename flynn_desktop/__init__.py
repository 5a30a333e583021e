"""Flynn Desktop: a local-first AI assistant."""

__version__ = "0.1.0"
