from flynn_desktop.sessions.export import to_json, to_markdown
from flynn_desktop.sessions.store import SQLSessionStore

__all__ = ["SQLSessionStore", "to_json", "to_markdown"]
