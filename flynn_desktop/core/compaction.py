"""Compaction: a long conversation's older turns become one summary, so it goes on fitting the model.

The seed's way (agents.default.compaction): when a prompt would pass `thresholdPct` of the model's
context, the turns before the last `keepTurns` are summarised by the `compaction` delegation tier,
within `summaryMaxTokens`, into one summary. A later compaction folds the earlier summary in. Messages
whose importance reaches `importanceThreshold` (a note to remember, a decision) stay word for word.
The summary goes at the end of the system message, so the prompt's head stays the same from one
compaction to the next and the local model's KV cache is reused between turns.

A saved conversation keeps its summary as a message with role `summary`, whose `covers` is the id of
the last message it folds in. A client that sends its own history is compacted the same way; its
summaries are kept in memory, by the folded messages, so its next request gets the same prompt head.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from flynn_desktop.core.memory import explicit_note
from flynn_desktop.core.messages import ChatMessage, Role, StoredMessage

SUMMARY_HEADING = "Earlier in this conversation (summarised):"
# Importance of a message, 0..1, when nothing else is known: notes and decisions are kept word for word.
NOTE_IMPORTANCE = 0.9
DECISION_IMPORTANCE = 0.8
PLAIN_IMPORTANCE = 0.3
_DECISION = re.compile(
    r"\b(we (?:decided|agreed|chose|settled on)|i (?:decided|chose|have decided)|let'?s go with|"
    r"the decision is|decided to|final decision)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CompactionSettings:
    threshold_pct: int = 75
    keep_turns: int = 6
    summary_max_tokens: int = 2048
    importance_threshold: float = 0.8


@dataclass(frozen=True)
class Conversation:
    """A conversation and how much of it a summary folds: the model gets the system message with the
    summary at its end, the important messages of the folded part word for word, then the rest."""

    raw: list[ChatMessage]  # every message, oldest first
    ids: list[int | None]  # each message's id in the store (None for a client's own history)
    summary: str = ""
    covered: int = 0  # raw[:covered] is folded into the summary
    threshold: float = 0.8
    pinned: frozenset[int] = frozenset()  # indexes into raw of the messages the user pinned

    def important(self, i: int) -> bool:
        """Whether raw[i] stays word for word when its turn is folded."""
        return i in self.pinned or importance(self.raw[i]) >= self.threshold

    @property
    def messages(self) -> list[ChatMessage]:
        kept = [m for i, m in enumerate(self.raw[: self.covered]) if self.important(i)]
        return [*kept, *self.raw[self.covered :]]


@dataclass(frozen=True)
class Fold:
    """One compaction: the earlier summary and the messages to fold into the new one, up to `cut`."""

    previous: str
    folded: list[ChatMessage]
    cut: int  # raw[:cut] will be covered
    covers: int | None  # the store id of the last folded message


def importance(message: ChatMessage) -> float:
    """How much a message matters when its turn is folded into a summary."""
    if message.role == Role.USER and explicit_note(message.content):
        return NOTE_IMPORTANCE
    if message.role in (Role.USER, Role.ASSISTANT) and _DECISION.search(message.content):
        return DECISION_IMPORTANCE
    return PLAIN_IMPORTANCE


def conversation_of(stored: Sequence[StoredMessage], threshold: float = 0.8) -> Conversation:
    """A saved conversation, with its newest summary. Failed and empty answers are left out, and so
    are messages an edit or a regenerate replaced."""
    summary = next((m for m in reversed(stored) if m.role == Role.SUMMARY and m.content), None)
    covers = (summary.covers or 0) if summary is not None else 0
    kept = [
        m for m in stored if m.role != Role.SUMMARY and m.content and m.status != "error" and not m.superseded
    ]
    covered = sum(m.id <= covers for m in kept)
    return Conversation(
        [m.as_chat() for m in kept],
        [m.id for m in kept],
        summary.content if summary else "",
        covered,
        threshold,
        frozenset(i for i, m in enumerate(kept) if m.pinned),
    )


def reading_order(stored: Sequence[StoredMessage]) -> list[StoredMessage]:
    """A saved conversation as people read it: each summary right after the last message it folds
    in (it is saved later, when the conversation reached the threshold)."""
    out: list[StoredMessage] = []
    summaries = sorted((m for m in stored if m.role == Role.SUMMARY), key=lambda m: m.covers or 0)
    for m in stored:
        if m.role == Role.SUMMARY:
            continue
        while summaries and (summaries[0].covers or 0) < m.id:
            out.append(summaries.pop(0))
        out.append(m)
    return [*out, *summaries]


def with_summary(system: ChatMessage, summary: str) -> ChatMessage:
    """The system message with the conversation's summary at its end."""
    if not summary:
        return system
    head = f"{system.content}\n\n" if system.content else ""
    return ChatMessage(Role.SYSTEM, f"{head}{SUMMARY_HEADING}\n{summary}")


def plan_fold(conv: Conversation, settings: CompactionSettings, keep: int | None = None) -> Fold | None:
    """Fold every turn before the last `keep` (settings.keep_turns unless given); the important
    messages stay word for word. None when there are no more turns than that."""
    keep = settings.keep_turns if keep is None else keep
    starts = [
        i for i in range(conv.covered, len(conv.raw)) if conv.raw[i].role == Role.USER or i == conv.covered
    ]
    if len(starts) <= keep:
        return None
    cut = starts[-keep] if keep else len(conv.raw)
    folded = [conv.raw[i] for i in range(conv.covered, cut) if not conv.important(i)]
    covers = next((conv.ids[i] for i in range(cut - 1, -1, -1) if conv.ids[i] is not None), None)
    return Fold(conv.summary, folded, cut, covers)


def summary_prompt(fold: Fold, max_chars: int = 12000) -> str:
    """What the compaction tier is asked: fold the earlier summary and these turns into one."""
    # an answer's gist is at its start: the rest of a long one costs the tier time, not meaning
    lines = [
        f"{m.role.value}: {_cut(' '.join(m.content.split()), 1000 if m.role == Role.USER else 300)}"
        for m in fold.folded
    ]
    transcript = "\n".join(lines)
    if len(transcript) > max_chars:  # the tier's own context: keep the newest part
        transcript = "…" + transcript[-max_chars:]
    earlier = f"Summary so far:\n{fold.previous}\n\n" if fold.previous else ""
    return (
        "Summarize this conversation between a user and an assistant in a few short sentences, so it "
        "can go on without the full text: what the user asked and wants, what was answered or decided, "
        "names, numbers and facts about the user. Write only the summary.\n\n"
        f"{earlier}Conversation:\n{transcript}"
    )


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n].rsplit(" ", 1)[0] + "…"


def clean_summary(text: str, fallback: Fold) -> str:
    """The tier's summary, one paragraph. When it wrote nothing, the user's own words are kept (cut)."""
    text = " ".join(text.split())
    if text:
        return text
    asked = "; ".join(" ".join(m.content.split())[:160] for m in fallback.folded if m.role == Role.USER)
    return " ".join(filter(None, [fallback.previous, f"The user asked: {asked}." if asked else ""]))


class SummaryCache:
    """Summaries of clients' own histories, by the messages they cover: a client that sends the same
    conversation again, longer, gets the same summary, so its prompt head (and KV cache) stay put."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._items: OrderedDict[str, str] = OrderedDict()

    @staticmethod
    def _prefix_keys(messages: Sequence[ChatMessage]) -> list[str]:
        """keys[i] identifies messages[:i+1]."""
        keys, h = [], hashlib.sha256()
        for m in messages:
            h.update(f"{m.role.value}\x00{m.content}\x01".encode())
            keys.append(h.copy().hexdigest())
        return keys

    def find(self, messages: Sequence[ChatMessage]) -> tuple[str, int]:
        """(the summary, how many messages it covers) for the longest summarised start of
        `messages`; ("", 0) when none is known."""
        keys = self._prefix_keys(messages)
        for i in range(len(keys) - 1, -1, -1):
            if keys[i] in self._items:
                self._items.move_to_end(keys[i])
                return self._items[keys[i]], i + 1
        return "", 0

    def put(self, messages: Sequence[ChatMessage], summary: str) -> None:
        """Remember the summary of `messages` (the whole start it covers)."""
        if not messages:
            return
        key = self._prefix_keys(messages)[-1]
        self._items[key] = summary
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)
