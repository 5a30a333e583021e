"""Markdown to the HTML subset Qt's rich text understands. Raw HTML from a model is shown as text."""

from __future__ import annotations

import html
import re

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


def _md(style: str) -> markdown.Markdown:
    """Markdown with fenced code highlighted by Pygments as inline colours (Qt's rich text has no
    stylesheet classes for them); a block without a language is not guessed at."""
    highlight = {"noclasses": True, "pygments_style": style, "guess_lang": False}
    md = markdown.Markdown(
        extensions=["fenced_code", "codehilite", "tables", "sane_lists"],
        extension_configs={"codehilite": highlight},
    )
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    return md


_MD = {False: _md("friendly"), True: _md("monokai")}
_FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)


def markdown_html(text: str, dark: bool = False) -> str:
    md = _MD[dark]
    md.reset()
    return md.convert(text)


def code_blocks(text: str) -> list[str]:
    """The fenced code blocks of a message, in order: what each block's copy link copies."""
    return [m.group(2).rstrip("\n") for m in _FENCE.finditer(text)]


SUMMARY_LINK = "flynn:summaries"  # the window opens and folds summaries when this link is clicked
PIN_LINK = "flynn:pin:"  # + a message id: the window pins or unpins it
COPY_LINK = "flynn:copy:"  # + a message id: the window copies its text
COPY_CODE_LINK = "flynn:copy-code:"  # + message id:block number: the window copies that code block


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
    """Under a finished answer: its length and speed (from its first save to its last)."""
    if m.status != MessageStatus.COMPLETE or not m.tokens_out:
        return ""
    seconds = (m.updated_at - m.created_at).total_seconds()
    speed = f" · {m.tokens_out / seconds:.0f} tokens/s" if seconds > 0.05 else ""
    return f'<p class="badge">{m.tokens_out} tokens{speed}</p>'


def message_html(m: StoredMessage, dark: bool = False) -> str:
    if m.role == Role.USER:
        head = f'<p><span class="you">You</span>{copy_html(m)}{pin_html(m)}</p>'
        body = f"<p>{html.escape(m.content).replace(chr(10), '<br>')}</p>"
        return head + body
    where = " · left this computer" if m.remote else " · this computer"
    badge = f' <span class="badge">{html.escape(f"{m.provider}:{m.model}")}{where}</span>' if m.model else ""
    head = f'<p><span class="flynn">Flynn</span>{badge}{copy_html(m)}{pin_html(m)}</p>'
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
    return head + body + stats_html(m) + note


def conversation_html(
    messages: list[StoredMessage], streaming_id: int | None = None, unfolded: bool = False, dark: bool = False
) -> str:
    parts = [STYLE % (DARK if dark else LIGHT)]
    for m in reading_order(messages):
        if m.role == Role.SUMMARY:
            parts.append(summary_html(m, unfolded) + "<hr>")
            continue
        parts.append(message_html(m, dark))
        if m.status == MessageStatus.PARTIAL and m.id != streaming_id:
            parts.append('<p class="note">(partial answer: stopped before the end)</p>')
        parts.append("<hr>")
    return "".join(parts)
