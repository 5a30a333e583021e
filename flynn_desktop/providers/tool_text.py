"""Tool calls in a local model's text, in the forms chat templates teach: Hermes/Qwen/SmolLM3's
`<tool_call>{"name": …, "arguments": {…}}</tool_call>`, Mistral's `[TOOL_CALLS][{…}]`, and Llama 3's
bare `{"name": …, "parameters": {…}}`. Text streams on as it comes, except what may be the start of a
call; what can't be read as a call is given back as text, so nothing the model wrote is lost."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from flynn_desktop.core.messages import ToolCall

OPEN, CLOSE, MISTRAL = "<tool_call>", "</tool_call>", "[TOOL_CALLS]"
_MARKERS = (OPEN, MISTRAL)
_BLOCK = re.compile(re.escape(OPEN) + r"\s*(.*?)\s*(?:" + re.escape(CLOSE) + r"|$)", re.DOTALL)


class ToolText:
    def __init__(self, names: set[str]) -> None:
        self.names = names  # the tools offered: a bare JSON object is a call only if it names one
        self.buf = ""
        self.calling = False  # a marker was seen: the rest is calls
        self.shown = False  # some text went out already (a bare JSON call must be the whole answer)

    def feed(self, piece: str) -> list[str]:
        """The text that can be shown now."""
        self.buf += piece
        if self.calling:
            return []
        for marker in _MARKERS:
            at = self.buf.find(marker)
            if at >= 0:
                text, self.buf, self.calling = self.buf[:at], self.buf[at:], True
                return self._out(text)
        if not self.shown and self.buf.lstrip().startswith("{"):
            return []  # perhaps Llama 3's bare call: held until the end
        keep = max((n for m in _MARKERS for n in range(1, len(m)) if self.buf.endswith(m[:n])), default=0)
        text, self.buf = self.buf[: len(self.buf) - keep], self.buf[len(self.buf) - keep :]
        return self._out(text)

    def _out(self, text: str) -> list[str]:
        if text:
            self.shown = True
            return [text]
        return []

    def end(self) -> tuple[str, list[ToolCall]]:
        """What is left: text, and the calls (none when it can't be read as calls: then it is text)."""
        rest, self.buf = self.buf, ""
        if rest.startswith(OPEN):
            found = [_call(raw) for raw in _BLOCK.findall(rest)]
        elif rest.startswith(MISTRAL):
            found = _calls(rest[len(MISTRAL) :])
        elif not self.shown and rest.lstrip().startswith("{"):
            found = [_call(rest)]
            if found[0] is not None and found[0].name not in self.names:
                return rest, []  # a JSON answer, not a call
        else:
            return rest, []
        calls = [c for c in found if c is not None]
        return ("", calls) if calls and len(calls) == len(found) else (rest, [])


def _call(raw: str) -> ToolCall | None:
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return _from(doc)


def _calls(raw: str) -> list[ToolCall | None]:
    try:
        docs = json.loads(raw.strip())
    except json.JSONDecodeError:
        return [None]
    return [_from(d) for d in (docs if isinstance(docs, list) else [docs])]


def _from(doc: Any) -> ToolCall | None:
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
        return None
    args = doc.get("arguments", doc.get("parameters", {}))
    if isinstance(args, str):  # some models write the arguments as JSON text
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return None
    if not isinstance(args, dict):
        return None
    return ToolCall(f"call_{uuid.uuid4().hex[:12]}", doc["name"], json.dumps(args))


def tool_call_schema(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON schema of one call of one of `tools` (OpenAI function tools): its name, and arguments
    that follow the tool's own parameters."""
    return {
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "name": {"const": t["function"]["name"]},
                    "arguments": t["function"].get("parameters") or {"type": "object"},
                },
                "required": ["name", "arguments"],
            }
            for t in tools
        ]
    }


def tool_call_gbnf(call_gbnf: str) -> str:
    """A llama.cpp grammar for a model that must call a tool (tool_choice required or named):
    `<tool_call>` + one call (`call_gbnf`: the grammar of tool_call_schema, its root renamed) +
    `</tool_call>`."""
    body = re.sub(r"^root\s*::=", "call ::=", call_gbnf, count=1, flags=re.MULTILINE)
    return f'root ::= "{OPEN}" call "{CLOSE}"\n{body}\n'
