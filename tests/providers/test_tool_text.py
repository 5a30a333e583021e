"""Reading a local model's tool calls from its text, fed in pieces as llama.cpp streams them."""

from __future__ import annotations

import json

import pytest

from flynn_desktop.providers.tool_text import ToolText


def read(pieces: list[str], names: set[str] | None = None) -> tuple[str, list[tuple[str, dict]]]:  # type: ignore[type-arg]
    t = ToolText(names or {"get_weather", "current_time"})
    shown = "".join(s for p in pieces for s in t.feed(p))
    rest, calls = t.end()
    return shown + rest, [(c.name, json.loads(c.arguments)) for c in calls]


@pytest.mark.parametrize(
    ("pieces", "text", "calls"),
    [
        (
            [
                "Let me look. <tool",
                '_call>\n{"name": "get_weather", ',
                '"arguments": {"city": "Oslo"}}\n</tool_call>',
            ],
            "Let me look. ",
            [("get_weather", {"city": "Oslo"})],
        ),
        (
            [
                '<tool_call>{"name": "current_time", "arguments": {}}</tool_call>\n<tool_call>{"name": "get_weather", "arguments": "{\\"city\\": \\"Rome\\"}"}</tool_call>'
            ],
            "",
            [("current_time", {}), ("get_weather", {"city": "Rome"})],
        ),
        (
            ['[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Lyon"}}]'],
            "",
            [("get_weather", {"city": "Lyon"})],
        ),
        (
            ['{"name": "get_weather", ', '"parameters": {"city": "Bern"}}'],
            "",
            [("get_weather", {"city": "Bern"})],
        ),
        (['{"name": "Ada", "age": 36}'], '{"name": "Ada", "age": 36}', []),  # JSON, not a call
        (["Plain answer with a < sign and <tool"], "Plain answer with a < sign and <tool", []),
        (["<tool_call>{broken json</tool_call>"], "<tool_call>{broken json</tool_call>", []),  # nothing lost
        (["Sure: {not at the start}"], "Sure: {not at the start}", []),
    ],
)
def test_calls_are_read_and_everything_else_is_text(pieces, text, calls) -> None:  # type: ignore[no-untyped-def]
    assert read(pieces) == (text, calls)
