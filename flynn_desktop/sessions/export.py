"""Export a session to Markdown or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence

from flynn_desktop.core.compaction import reading_order
from flynn_desktop.core.messages import MessageStatus, Role, SessionInfo, StoredMessage

_LABEL = {
    "user": "You",
    "assistant": "Flynn",
    "system": "System",
    "summary": "Earlier conversation, summarised",
}


def to_markdown(session: SessionInfo, messages: Sequence[StoredMessage]) -> str:
    out = [
        f"# {session.title or 'Untitled chat'}",
        "",
        f"*Session {session.id}, started {session.created_at:%Y-%m-%d %H:%M} UTC*",
        "",
    ]
    for m in reading_order(messages):
        who = _LABEL.get(m.role.value, m.role.value)
        if m.role.value == "assistant" and m.model:
            who += f" ({m.provider}:{m.model})"
        if m.superseded:
            who += ", an earlier version (replaced by an edit or a regenerate)"
        out.append(f"## {who}")
        out.append("")
        for step in m.tool_steps:
            outcome = "ran" if step.ok else "did not run" if step.approved.startswith("denied") else "failed"
            result = step.result[:500].replace("\n", " ")
            out.append(f"*Tool:* `{step.name}({step.arguments})` {outcome} ({step.approved}): {result}")
            out.append("")
        out.append(f"> {m.content}" if m.role == Role.SUMMARY else m.content or "")
        if m.citations:
            out.append("")
            out.append(
                "*Remembered:* " + " ".join(f"[{c.number}] {c.text} ({c.source})" for c in m.citations)
            )
        if m.status == MessageStatus.PARTIAL:
            out.append("")
            out.append("*(partial answer: it was stopped before the end)*")
        elif m.status == MessageStatus.ERROR:
            out.append("")
            out.append(f"*(error: {m.error or 'unknown'})*")
        out.append("")
    return "\n".join(out)


def to_json(session: SessionInfo, messages: Sequence[StoredMessage]) -> str:
    doc = {
        "id": session.id,
        "title": session.title,
        "source": session.source,
        "created_at": session.created_at.isoformat(),
        "updated_at": session.updated_at.isoformat(),
        "messages": [
            {
                "id": m.id,
                "role": m.role.value,
                "content": m.content,
                "status": m.status.value,
                "provider": m.provider,
                "model": m.model,
                "tokens_in": m.tokens_in,
                "tokens_out": m.tokens_out,
                "error": m.error,
                "remote": m.remote,
                "superseded": m.superseded,
                "first_token_ms": m.first_token_ms,
                "generation_ms": m.generation_ms,
                "tool_steps": [s.as_dict() for s in m.tool_steps],
                "citations": [
                    {"number": c.number, "memory_id": c.memory_id, "text": c.text, "source": c.source}
                    for c in m.citations
                ],
                "created_at": m.created_at.isoformat(),
                "updated_at": m.updated_at.isoformat(),
                **({"covers": m.covers} if m.role == Role.SUMMARY else {}),
            }
            for m in reading_order(messages)
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)
