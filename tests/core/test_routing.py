"""The quick rule that sends a message to the fast, default or complex tier (models.router.auto)."""

from __future__ import annotations

from flynn_desktop.core.routing import classify, parse_kind


def test_classify_by_need() -> None:
    assert classify("hello") == "fast"
    assert classify("What is the capital of France?") == "fast"
    assert classify("Thanks, that helped a lot with the whole thing I was doing this afternoon.") == "fast"
    assert classify("Compare PostgreSQL and SQLite for a desktop app.") == "complex"
    assert classify("Why does this fail?\n```python\nprint(x)\n```") == "complex"
    assert classify(" ".join(["word"] * 200)) == "complex"
    assert classify("Could you suggest a name for a small bakery that sells sourdough bread?") == "default"


def test_parse_kind() -> None:
    assert parse_kind("Complex.") == "complex"
    assert parse_kind("I think this is fast") == "fast"
    assert parse_kind("no idea") is None
