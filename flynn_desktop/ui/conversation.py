"""The conversation in view, kept in step with the Runtime's events: a turn that starts adds its
question and answer, deltas grow the answer, the end marks it. No Qt here: the window renders it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from flynn_desktop.core.events import Delta, RunCancelled, RunError, RunFinished, RunStarted, ToolFinished
from flynn_desktop.core.messages import MessageStatus, Role, StoredMessage, ToolStep


class Conversation:
    def __init__(self) -> None:
        self.messages: list[StoredMessage] = []
        self.streaming_id: int | None = None
        # Text streamed so far, by message id, for answers still streaming. The store saves a streaming
        # answer only now and then, so a session loaded mid-answer takes its text from here.
        self.streams: dict[int, str] = {}

    def load(self, messages: list[StoredMessage]) -> None:
        """Show a session as the store has it, with the text of answers streaming now."""
        self.messages = [
            dataclasses.replace(m, content=self.streams[m.id])
            if m.id in self.streams and len(self.streams[m.id]) > len(m.content)
            else m
            for m in messages
        ]

    def clear(self) -> None:
        self.messages = []

    def has(self, message_id: int | None) -> bool:
        return message_id is not None and any(m.id == message_id for m in self.messages)

    def start(self, ev: RunStarted) -> None:
        """A turn started in this session: its question and its (empty) answer."""
        self.streaming_id = ev.message_id
        if self.has(ev.message_id):
            return  # the session was loaded after the turn was saved
        now = datetime.now(UTC)
        provider, _, model = ev.model.partition(":")
        question = StoredMessage(
            ev.user_message_id, ev.session_id, Role.USER, ev.question, MessageStatus.COMPLETE, now, now
        )
        answer = StoredMessage(
            ev.message_id,
            ev.session_id,
            Role.ASSISTANT,
            self.streams.get(ev.message_id, ""),
            MessageStatus.PARTIAL,
            now,
            now,
            provider,
            model,
            citations=ev.citations,
        )
        self.messages = [*self.messages, question, answer]

    def routed(self, message_id: int, label: str, local: bool) -> None:
        provider, _, model = label.partition(":")
        self.change(message_id, provider=provider, model=model, remote=not local)

    def stream(self, ev: Delta, shown: bool) -> bool:
        """Keep a delta (of any session); True when it changed what is in view."""
        self.streams[ev.message_id] = self.streams.get(ev.message_id, "") + ev.text
        if not shown or not self.has(ev.message_id):
            return False  # not loaded yet: a load brings it with the text so far
        self.change_with(ev.message_id, lambda m: dataclasses.replace(m, content=m.content + ev.text))
        return True

    def end(self, ev: RunFinished | RunCancelled | RunError, shown: bool) -> bool:
        """Mark the answer as it ended. False when it is not in view (it failed before it started, or
        its session is not shown): then the store has it."""
        if ev.message_id is not None:
            self.streams.pop(ev.message_id, None)  # the store has the whole answer now
        if ev.message_id == self.streaming_id:  # another run (a gateway client's) ending changes nothing
            self.streaming_id = None
        if not shown or not self.has(ev.message_id):
            return False
        assert ev.message_id is not None
        if isinstance(ev, RunFinished):
            self.change(
                ev.message_id,
                status=MessageStatus.COMPLETE,
                tokens_in=ev.tokens_in,
                tokens_out=ev.tokens_out,
                first_token_ms=ev.first_token_ms,
                generation_ms=ev.generation_ms,
            )
        elif isinstance(ev, RunCancelled):
            self.change(ev.message_id, status=MessageStatus.PARTIAL)
        else:
            self.change(ev.message_id, status=MessageStatus.ERROR, error=ev.message)
        return True

    def tool_step(self, ev: ToolFinished) -> bool:
        """A tool call of an answer in view ended: shown under it at once. False when not in view."""
        if not self.has(ev.message_id):
            return False
        step = ToolStep(
            ev.call_id, ev.name, ev.arguments, ev.source, ev.ok, ev.result, ev.duration_ms, ev.approved
        )
        self.change_with(ev.message_id, lambda m: dataclasses.replace(m, tool_steps=(*m.tool_steps, step)))
        return True

    def supersede(self, message_ids: list[int]) -> None:
        """Messages an edit or a regenerate replaced: kept in view, folded."""
        for message_id in message_ids:
            self.change(message_id, superseded=True)

    def current_text(self, message_id: int) -> str | None:
        """A message's text, if it is in view."""
        return next((m.content for m in self.messages if m.id == message_id), None)

    def change(self, message_id: int, **changes: Any) -> None:
        self.change_with(message_id, lambda m: dataclasses.replace(m, **changes))

    def change_with(self, message_id: int, fn: Any) -> None:
        for i, m in enumerate(self.messages):
            if m.id == message_id:
                self.messages[i] = fn(m)
                return

    def last_answer(self) -> StoredMessage | None:
        answers = [m for m in self.messages if m.role == Role.ASSISTANT]
        return answers[-1] if answers else None
