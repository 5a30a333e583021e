"""Markdown to the HTML subset Qt's rich text understands. Raw HTML from a model is shown as text."""

from __future__ import annotations

import functools
import html
import re
from typing import TYPE_CHECKING

from flynn_desktop.core.compaction import reading_order
from flynn_desktop.core.messages import MessageStatus, Role, StoredMessage

if TYPE_CHECKING:
    import markdown

STYLE = """
<style>
  .you { color: %(you)s; font-weight: bold; }
  .flynn { color: %(flynn)s; font-weight: bold; }
  .badge { color: %(badge)s; font-size: small; }
  .note { color: %(note)s; font-style: italic; }
  .err { color: %(err)s; }
  .old { color: %(badge)s; }
  pre { background-color: %(code)s; font-family: monospace; padding: 6px; white-space: pre-wrap; }
  code { background-color: %(code)s; font-family: monospace; }
  a { color: %(link)s; text-decoration: none; }
</style>
"""
LIGHT = {
    "you": "#1a4d8f",
    "flynn": "#2d6a2d",
    "badge": "#777",
    "note": "#a05a00",
    "err": "#b00020",
    "code": "#ececec",
    "link": "#2a62b8",
    "question": "#e8f0fb",  # a question's block
    "answer": "#f6f6f4",  # an answer's block
    "earlier": "#fbfbfb",  # a replaced message, unfolded
}
DARK = {
    "you": "#7aa7ff",
    "flynn": "#7fd17f",
    "badge": "#9a9a9a",
    "note": "#f0a050",
    "err": "#ff6b6b",
    "code": "#1f2023",
    "link": "#8fb4ff",
    "question": "#2c3646",
    "answer": "#303236",
    "earlier": "#27282b",
}


@functools.cache
def _md(style: str) -> markdown.Markdown:
    """Markdown with fenced code highlighted by Pygments as inline colours (Qt's rich text has no
    stylesheet classes for them); a block without a language is not guessed at."""
    import markdown  # with Pygments, at the first answer shown: not before the window

    highlight = {"noclasses": True, "pygments_style": style, "guess_lang": False}
    md = markdown.Markdown(
        extensions=["fenced_code", "codehilite", "tables", "sane_lists"],
        extension_configs={"codehilite": highlight},
    )
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    return md


_FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)


def markdown_html(text: str, dark: bool = False) -> str:
    md = _md("monokai" if dark else "friendly")
    md.reset()
    # A code block's last newline would show in Qt as an empty, shaded line.
    return md.convert(text).replace("\n</code></pre>", "</code></pre>")


def code_blocks(text: str) -> list[str]:
    """The fenced code blocks of a message, in order: what each block's copy link copies."""
    return [m.group(2).rstrip("\n") for m in _FENCE.finditer(text)]


SUMMARY_LINK = "flynn:summaries"  # the window opens and folds summaries when this link is clicked
PIN_LINK = "flynn:pin:"  # + a message id: the window pins or unpins it
COPY_LINK = "flynn:copy:"  # + a message id: the window copies its text
COPY_CODE_LINK = "flynn:copy-code:"  # + message id:block number: the window copies that code block
EDIT_LINK = "flynn:edit:"  # + a question's id: the window puts it in the input to edit and resend
REGENERATE_LINK = "flynn:regenerate:"  # + an answer's id: the window asks its question again
EARLIER_LINK = "flynn:earlier:"  # + the first id of replaced messages: the window shows or hides them
EXAMPLE_LINK = "flynn:example:"  # + an index into EXAMPLES: the window asks it
STEPS_LINK = "flynn:steps:"  # + an answer's id: the window shows or hides its tool steps

# What an empty chat offers to ask: one for each thing people come for, memory included.
EXAMPLES = (
    "Explain what a Python generator is, with a short example.",
    "Write a friendly email asking to move tomorrow's meeting to Friday.",
    "Give me five ideas for a quick, healthy dinner.",
    "Remember that I prefer short answers.",
)


def pin_html(m: StoredMessage) -> str:
    """A message's pin: pinned ones stay word for word when the conversation is summarised."""
    if m.id <= 0 or m.status == MessageStatus.PARTIAL or m.superseded:
        return ""
    label = "📌 pinned (unpin)" if m.pinned else "pin"
    return f' <a class="badge" href="{PIN_LINK}{m.id}">{label}</a>'


def fold_line(what: str, href: str, shown: bool) -> str:
    """The line of something folded (a summary, replaced messages, tool steps), with its show/hide link."""
    arrow, action = ("▾", "hide") if shown else ("▸", "show")
    return f'<p class="badge">{arrow} {what} <a href="{href}">{action}</a></p>'


def summary_html(m: StoredMessage, unfolded: bool) -> str:
    """A conversation's summary of its earlier turns: one folded line, or the whole text."""
    head = fold_line("Earlier conversation, summarised", SUMMARY_LINK, unfolded)
    return head + (f'<blockquote class="badge">{html.escape(m.content)}</blockquote>' if unfolded else "")


def copy_html(m: StoredMessage) -> str:
    return f' <a class="badge" href="{COPY_LINK}{m.id}">copy</a>' if m.id > 0 and m.content else ""


def _with_copy_links(body: str, message_id: int) -> str:
    """A "copy code" link before each highlighted block."""
    parts = body.split('<div class="codehilite"')
    out = [parts[0]]
    for n, rest in enumerate(parts[1:]):
        link = f'<p class="badge"><a href="{COPY_CODE_LINK}{message_id}:{n}">copy code</a></p>'
        out.append(link + '<div class="codehilite"' + rest)
    return "".join(out)


def stats_html(m: StoredMessage) -> str:
    """Under a finished answer: its length, how long the first token took, and the speed after it
    (from the first save to the last for answers saved before Flynn measured them)."""
    if m.status != MessageStatus.COMPLETE or not m.tokens_out:
        return ""
    parts = [f"{m.tokens_out} tokens"]
    if m.first_token_ms is not None:
        parts.append(f"first token {m.first_token_ms / 1000:.2f} s")
    seconds = (
        m.generation_ms / 1000
        if m.generation_ms is not None
        else (m.updated_at - m.created_at).total_seconds()
    )
    if seconds > 0.05:
        parts.append(f"{m.tokens_out / seconds:.0f} tokens/s")
    return f'<p class="badge">{" · ".join(parts)}</p>'


def steps_html(m: StoredMessage, shown: bool) -> str:
    """An answer's tool calls: one folded line, or each call with its arguments, outcome and result."""
    if not m.tool_steps:
        return ""
    n = len(m.tool_steps)
    names = ", ".join(dict.fromkeys(s.name for s in m.tool_steps))
    head = fold_line(
        f"{n} tool call{'s' if n != 1 else ''}: {html.escape(names)}", f"{STEPS_LINK}{m.id}", shown
    )
    if not shown:
        return head
    rows = []
    for s in m.tool_steps:
        outcome = (
            "ran"
            if s.ok
            else "failed"
            if s.approved in ("policy", "you", "you (always)", "--yes")
            else "not run"
        )
        where = "" if s.source == "flynn" else f" · {html.escape(s.source)}"
        rows.append(
            f'<p class="badge"><b>{html.escape(s.name)}</b>({html.escape(s.arguments[:300])}) · {outcome} · '
            f"{s.duration_ms:.0f} ms · {html.escape(s.approved)}{where}</p>"
            f"<pre>{html.escape(s.result[:1000])}{'…' if len(s.result) > 1000 else ''}</pre>"
        )
    return head + "".join(rows)


def _action(href: str, label: str) -> str:
    return f' <a class="badge" href="{href}">{label}</a>'


def message_html(m: StoredMessage, dark: bool = False, actions: str = "", steps_shown: bool = False) -> str:
    """One message; `actions` are links the window adds (edit, regenerate) for current messages."""
    if m.role == Role.USER:
        head = f'<p><span class="you">You</span>{copy_html(m)}{pin_html(m)}{actions}</p>'
        body = f"<p>{html.escape(m.content).replace(chr(10), '<br>')}</p>"
        return head + body
    where = " · left this computer" if m.remote else " · this computer"
    badge = f' <span class="badge">{html.escape(f"{m.provider}:{m.model}")}{where}</span>' if m.model else ""
    head = f'<p><span class="flynn">Flynn</span>{badge}{copy_html(m)}{pin_html(m)}{actions}</p>'
    body = _with_copy_links(markdown_html(m.content, dark), m.id) if m.content else ""
    if m.status == MessageStatus.PARTIAL and not body:
        body = '<p class="note">…</p>'
    note = ""
    if m.citations:
        cited = " ".join(
            f"[{c.number}] {html.escape(c.text[:120])}{'…' if len(c.text) > 120 else ''} "
            f"<i>({html.escape(c.source)})</i>"
            for c in m.citations
        )
        note += f'<p class="badge">Remembered: {cited}</p>'
    if m.status == MessageStatus.ERROR:
        note += f'<p class="err">{html.escape(m.error or "The answer failed.")}</p>'
    return head + steps_html(m, steps_shown) + body + stats_html(m) + note


def _block(inner: str, colour: str) -> str:
    """A message as a block of its own: Qt's rich text draws a table cell's background and padding."""
    return (
        f'<table width="100%" cellspacing="0" cellpadding="10" bgcolor="{colour}" '
        f'style="margin-bottom: 8px"><tr><td>{inner}</td></tr></table>'
    )


def _earlier_html(group: list[StoredMessage], shown: bool, dark: bool, colours: dict[str, str]) -> str:
    """Messages an edit or a regenerate replaced: one folded line, or the messages greyed."""
    n = len(group)
    what = f"Earlier version: {n} message{'s' if n != 1 else ''} replaced by an edit or a regenerate"
    head = fold_line(what, f"{EARLIER_LINK}{group[0].id}", shown)
    if not shown:
        return head
    return head + "".join(
        _block(f'<div class="old">{message_html(m, dark)}</div>', colours["earlier"]) for m in group
    )


def examples_html(dark: bool = False) -> str:
    """An empty chat: what Flynn is, and a few questions to start with."""
    colours = DARK if dark else LIGHT
    links = "".join(
        f'<p><a href="{EXAMPLE_LINK}{i}">{html.escape(text)}</a></p>' for i, text in enumerate(EXAMPLES)
    )
    inner = f'<p class="badge">Ask anything. Your model runs on this computer. Try:</p>{links}'
    return STYLE % colours + _block(inner, colours["answer"])


def conversation_html(
    messages: list[StoredMessage],
    streaming_id: int | None = None,
    unfolded: bool = False,
    dark: bool = False,
    earlier_shown: frozenset[int] = frozenset(),
    steps_shown: frozenset[int] = frozenset(),
) -> str:
    """The conversation: a block per message, the summaries and replaced messages folded, edit on the
    questions and regenerate on the last answer once nothing streams."""
    colours = DARK if dark else LIGHT
    parts = [STYLE % colours]
    ordered = reading_order(messages)
    current = [m for m in ordered if not m.superseded and m.role != Role.SUMMARY]
    last = current[-1] if current else None
    earlier: list[StoredMessage] = []

    def fold() -> None:
        if earlier:
            parts.append(_earlier_html(earlier, earlier[0].id in earlier_shown, dark, colours))
            earlier.clear()

    for m in ordered:
        if m.superseded:
            earlier.append(m)
            continue
        fold()
        if m.role == Role.SUMMARY:
            parts.append(summary_html(m, unfolded))
            continue
        actions = ""
        if streaming_id is None and m.id > 0:
            if m.role == Role.USER:
                actions = _action(f"{EDIT_LINK}{m.id}", "edit")
            elif m is last and m.role == Role.ASSISTANT:
                actions = _action(f"{REGENERATE_LINK}{m.id}", "regenerate")
        inner = message_html(m, dark, actions, m.id in steps_shown)
        if m.status == MessageStatus.PARTIAL and m.id != streaming_id:
            inner += '<p class="note">(partial answer: stopped before the end)</p>'
        parts.append(_block(inner, colours["question" if m.role == Role.USER else "answer"]))
    fold()
    return "".join(parts)
