from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date

import pytest

from flynn_desktop.core.messages import ChatMessage, Role
from flynn_desktop.core.prompt import fit_prompt, system_message, turns_of
from flynn_desktop.core.tokens import estimate_prompt_tokens, estimate_text_tokens
from flynn_desktop.errors import ContextOverflowError


async def count(msgs: Sequence[ChatMessage]) -> int:
    return estimate_prompt_tokens(msgs)


def history(n: int, words: int = 20) -> list[ChatMessage]:
    out = []
    for i in range(n):
        out.append(ChatMessage(Role.USER, f"question {i} " + "word " * words))
        out.append(ChatMessage(Role.ASSISTANT, f"answer {i} " + "word " * words))
    return out


def test_system_message_depths() -> None:
    d = date(2026, 1, 2)
    minimal = system_message("Be Flynn.", "minimal", d)
    normal = system_message("Be Flynn.", "normal", d)
    assert minimal.content == "Be Flynn."
    assert normal.content.startswith("Be Flynn.") and "02 January 2026" in normal.content
    assert normal.role == Role.SYSTEM


def test_everything_fits_in_order() -> None:
    sys_m = system_message("S", "minimal")
    h = history(3)
    user = ChatMessage(Role.USER, "new")
    p = asyncio.run(fit_prompt(sys_m, h, [user], 4096, 256, count))
    assert p.messages == [sys_m, *h, user]
    assert p.trimmed_turns == 0
    assert p.tokens == estimate_prompt_tokens(p.messages)


def test_old_turns_are_dropped_oldest_first_and_reported() -> None:
    sys_m = system_message("S", "minimal")
    h = history(10, words=40)
    user = ChatMessage(Role.USER, "new")
    budget_ctx = 600
    p = asyncio.run(fit_prompt(sys_m, h, [user], budget_ctx, 100, count))
    assert 0 < p.trimmed_turns < 10
    assert p.tokens <= budget_ctx - 100
    kept = p.messages[1:-1]
    assert kept == h[2 * p.trimmed_turns :]  # the newest turns, whole, in order
    # one more turn would not have fitted: the fewest turns were dropped
    more = [sys_m, *h[2 * (p.trimmed_turns - 1) :], user]
    assert estimate_prompt_tokens(more) > budget_ctx - 100


def test_a_message_too_long_is_refused_not_cut() -> None:
    sys_m = system_message("S", "minimal")
    user = ChatMessage(Role.USER, "word " * 2000)
    with pytest.raises(ContextOverflowError) as e:
        asyncio.run(fit_prompt(sys_m, history(2), [user], 1024, 256, count))
    assert "1024" in str(e.value) and "maxTokens" in str(e.value)


def test_volatile_context_goes_last_so_the_prefix_is_stable() -> None:
    sys_m = system_message("S", "normal")
    h = history(2)
    turn1 = asyncio.run(fit_prompt(sys_m, h, [ChatMessage(Role.USER, "q1")], 4096, 64, count, ["memory A"]))
    h2 = [*h, ChatMessage(Role.USER, "q1"), ChatMessage(Role.ASSISTANT, "a1")]
    turn2 = asyncio.run(fit_prompt(sys_m, h2, [ChatMessage(Role.USER, "q2")], 4096, 64, count, ["memory B"]))
    # Everything before this turn's volatile block is the same as last turn's stable part.
    stable1 = turn1.messages[: 1 + len(h)]
    assert turn2.messages[: len(stable1)] == stable1
    assert turn1.messages[-2].content == "memory A" and turn1.messages[-1].content == "q1"


def test_turns_of_groups_by_user_message() -> None:
    h = history(2)
    assert [len(t) for t in turns_of(h)] == [2, 2]


def test_token_estimate_is_sane() -> None:
    assert estimate_text_tokens("") == 0
    assert estimate_text_tokens("hello") == 2
    assert estimate_text_tokens("The capital of France is Paris.") >= 6
    long = estimate_text_tokens("antidisestablishmentarianism")
    assert 5 <= long <= 10
