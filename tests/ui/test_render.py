from __future__ import annotations

from datetime import UTC, datetime

from flynn_desktop.core.messages import MessageStatus, Role, StoredMessage
from flynn_desktop.ui.render import conversation_html, markdown_html

NOW = datetime.now(UTC)


def msg(
    i: int, role: Role, content: str, status: MessageStatus = MessageStatus.COMPLETE, **kw: str
) -> StoredMessage:
    return StoredMessage(i, "s", role, content, status, NOW, NOW, **kw)  # type: ignore[arg-type]


def test_markdown_and_code_blocks() -> None:
    out = markdown_html("Some **bold** text.\n\n```python\nprint('<hi>')\n```\n")
    assert "<strong>bold</strong>" in out
    assert '<div class="codehilite"' in out and "&lt;hi&gt;" in out and "<hi>" not in out
    assert '<span style="color: #007020">print</span>' in out  # highlighted by Pygments, inline colours


def test_copy_links_and_the_answers_speed() -> None:
    from datetime import timedelta

    from flynn_desktop.ui.render import COPY_CODE_LINK, COPY_LINK, code_blocks

    text = "Two blocks:\n\n```python\nx = 1\n```\n\n~~~\nplain <b>\n~~~\n"
    answer = StoredMessage(
        7,
        "s",
        Role.ASSISTANT,
        text,
        MessageStatus.COMPLETE,
        NOW,
        NOW + timedelta(seconds=2),
        provider="local",
        model="m",
        tokens_out=80,
    )
    html = conversation_html([answer])
    assert f'href="{COPY_LINK}7"' in html
    assert f'href="{COPY_CODE_LINK}7:0"' in html and f'href="{COPY_CODE_LINK}7:1"' in html
    assert code_blocks(text) == ["x = 1", "plain <b>"]
    assert "local:m · this computer" in html and "80 tokens · 40 tokens/s" in html


def test_raw_html_from_a_model_is_shown_as_text() -> None:
    out = markdown_html('<script>alert(1)</script> and <img src="x" onerror="y">')
    assert "<script>" not in out and "<img" not in out
    assert "&lt;script&gt;" in out


def test_user_text_is_escaped_and_badges_and_states_show() -> None:
    html = conversation_html(
        [
            msg(1, Role.USER, "a < b & **not bold**"),
            msg(2, Role.ASSISTANT, "Half", MessageStatus.PARTIAL, provider="local", model="m"),
            msg(
                3,
                Role.ASSISTANT,
                "",
                MessageStatus.ERROR,
                provider="local",
                model="m",
                error="The model failed.",
            ),
        ]
    )
    assert "a &lt; b &amp; **not bold**" in html
    assert "local:m" in html and "partial answer" in html and "The model failed." in html


def test_the_streaming_answer_is_not_marked_partial() -> None:
    html = conversation_html([msg(2, Role.ASSISTANT, "Stream", MessageStatus.PARTIAL)], streaming_id=2)
    assert "partial answer" not in html


def test_code_blocks_take_the_themes_colours() -> None:
    from flynn_desktop.ui.render import DARK, LIGHT

    m = [msg(1, Role.ASSISTANT, "```\nprint(1)\n```")]
    assert LIGHT["code"] in conversation_html(m) and DARK["code"] not in conversation_html(m)
    assert DARK["code"] in conversation_html(m, dark=True)
