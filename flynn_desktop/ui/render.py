"""Markdown to the HTML subset Qt's rich text understands. Raw HTML from a model is shown as text."""

from __future__ import annotations

import html

import markdown

from flynn_desktop.core.compaction import reading_order
from flynn_desktop.core.messages import MessageStatus, Role, StoredMessage

STYLE = """
<style>
  .you { color: %(you)s; font-weight: bold; }
  .flynn { color: %(flynn)s; font-weight: bold; }
  .badge { color: %(badge)s; font-size: small; }
  .note { color: %(note)s; font-style: italic; }
  .err { color: %(err)s; }
  pre { background-color: %(code)s; font-family: monospace; padding: 6px; }
  code { background-color: %(code)s; font-family: monospace; }
</style>
"""
LIGHT = {
    "you": "#1a4d8f",
    "flynn": "#2d6a2d",
    "badge": "#777",
    "note": "#a05a00",
    "err": "#b00020",
    "code": "#f3f3f3",
}
DARK = {
    "you": "#7aa7ff",
    "flynn": "#7fd17f",
    "badge": "#9a9a9a",
    "note": "#f0a050",
    "err": "#ff6b6b",
    "code": "#35373c",
}


def _md() -> markdown.Markdown:
    md = markdown.Markdown(extensions=["fenced_code", "tables", "sane_lists"])
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    return md


_MD = _md()


def markdown_html(text: str) -> str:
    _MD.reset()
    return _MD.convert(text)


SUMMARY_LINK = "flynn:summaries"  # the window opens and folds summaries when this link is clicked
PIN_LINK = "flynn:pin:"  # + a message id: the window pins or unpins it


def pin_html(m: StoredMessage) -> str:
    """A message's pin: pinned ones stay word for word when the conversation is summarised."""
    if m.id <= 0 or m.status == MessageStatus.PARTIAL:
        return ""
    label = "📌 pinned (unpin)" if m.pinned else "pin"
    return f' <a class="badge" href="{PIN_LINK}{m.id}">{label}</a>'


def summary_html(m: StoredMessage, unfolded: bool) -> str:
    """A conversation's summary of its earlier turns: one folded line, or the whole text."""
    arrow, action = ("▾", "hide") if unfolded else ("▸", "show")
    head = (
        f'<p class="badge">{arrow} Earlier conversation, summarised <a href="{SUMMARY_LINK}">{action}</a></p>'
    )
    return head + (f'<blockquote class="badge">{html.escape(m.content)}</blockquote>' if unfolded else "")


def message_html(m: StoredMessage) -> str:
    if m.role == Role.USER:
        head = f'<p><span class="you">You</span>{pin_html(m)}</p>'
        body = f"<p>{html.escape(m.content).replace(chr(10), '<br>')}</p>"
        return head + body
    where = " · left this computer" if m.remote else ""
    badge = f' <span class="badge">{html.escape(f"{m.provider}:{m.model}")}{where}</span>' if m.model else ""
    head = f'<p><span class="flynn">Flynn</span>{badge}{pin_html(m)}</p>'
    body = markdown_html(m.content) if m.content else ""
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
    return head + body + note


def conversation_html(
    messages: list[StoredMessage], streaming_id: int | None = None, unfolded: bool = False, dark: bool = False
) -> str:
    parts = [STYLE % (DARK if dark else LIGHT)]
    for m in reading_order(messages):
        if m.role == Role.SUMMARY:
            parts.append(summary_html(m, unfolded) + "<hr>")
            continue
        parts.append(message_html(m))
        if m.status == MessageStatus.PARTIAL and m.id != streaming_id:
            parts.append('<p class="note">(partial answer: stopped before the end)</p>')
        parts.append("<hr>")
    return "".join(parts)
