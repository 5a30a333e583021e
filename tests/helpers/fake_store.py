"""An in-memory session store that speaks core's SessionStore interface, for tests of the pipeline
that aren't about SQLite. `fail_writes` makes every write raise StorageError, as a full disk would."""

from __future__ import annotations

import dataclasses
import itertools
import pickle
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from flynn_desktop.core.messages import (
    Citation,
    MessageStatus,
    Role,
    Served,
    SessionInfo,
    StoredMessage,
    Upkeep,
    UsageRecord,
    steps_from_json,
)
from flynn_desktop.errors import NotFoundError, StorageError


def _now() -> datetime:
    return datetime.now(UTC)


class FakeSessionStore:
    def __init__(self) -> None:
        self.sessions: dict[str, SessionInfo] = {}
        self.trashed: dict[str, SessionInfo] = {}
        self.rows: dict[int, StoredMessage] = {}
        self.usage: list[tuple[datetime, UsageRecord]] = []
        self.fail_writes = False
        self.closed = False
        self._ids = itertools.count(1)

    def _write(self) -> None:
        if self.fail_writes:
            raise StorageError("Can't write the session store: database or disk is full", "Free some space.")

    def create_session(self, title: str = "", source: str = "app") -> SessionInfo:
        self._write()
        now = _now()
        info = SessionInfo(uuid.uuid4().hex[:12], title, now, now, 0, source)
        self.sessions[info.id] = info
        return info

    def get_session(self, session_id: str) -> SessionInfo:
        info = self.sessions.get(session_id)
        if info is None:
            raise NotFoundError(f"No session '{session_id}'.")
        return dataclasses.replace(info, message_count=len(self.messages(session_id)))

    def list_sessions(self, query: str | None = None, limit: int = 200) -> list[SessionInfo]:
        found = [self.get_session(s) for s in self.sessions]
        if query:
            found = [s for s in found if query.lower() in s.title.lower()]
        return sorted(found, key=lambda s: s.updated_at, reverse=True)[:limit]

    def pin_message(self, message_id: int, pinned: bool) -> StoredMessage:
        self._write()
        self.rows[message_id] = dataclasses.replace(self.rows[message_id], pinned=pinned)
        return self.rows[message_id]

    def rename_session(self, session_id: str, title: str) -> SessionInfo:
        self._write()
        self.sessions[session_id] = dataclasses.replace(self.get_session(session_id), title=title)
        return self.get_session(session_id)

    def set_session_model(self, session_id: str, model: str | None) -> SessionInfo:
        self._write()
        self.sessions[session_id] = dataclasses.replace(self.get_session(session_id), model=model)
        return self.get_session(session_id)

    def delete_session(self, session_id: str) -> None:
        self._write()
        info = self.sessions.pop(session_id)
        self.trashed[session_id] = dataclasses.replace(info, deleted_at=_now())

    def maintain(self) -> Upkeep:
        return Upkeep("fake", 0, 0, "ok", False)

    def snapshot(self, dest: Path) -> dict[str, int]:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(pickle.dumps((self.sessions, self.trashed, self.rows, self.usage)))
        return {"sessions": len(self.sessions) + len(self.trashed), "messages": len(self.rows)}

    def restore_from(self, source: Path) -> None:
        self._write()
        self.sessions, self.trashed, self.rows, self.usage = pickle.loads(source.read_bytes())

    def pin_session(self, session_id: str, pinned: bool) -> SessionInfo:
        self._write()
        self.sessions[session_id] = dataclasses.replace(self.get_session(session_id), pinned=pinned)
        return self.get_session(session_id)

    def trash(self) -> list[SessionInfo]:
        return sorted(self.trashed.values(), key=lambda s: s.deleted_at or _now(), reverse=True)

    def restore_session(self, session_id: str) -> SessionInfo:
        self._write()
        self.sessions[session_id] = dataclasses.replace(self.trashed.pop(session_id), deleted_at=None)
        return self.get_session(session_id)

    def purge_trash(self, deleted_before: datetime | None = None) -> list[str]:
        self._write()
        gone = [
            k
            for k, s in self.trashed.items()
            if deleted_before is None or (s.deleted_at or _now()) < deleted_before
        ]
        for k in gone:
            del self.trashed[k]
            self.rows = {i: m for i, m in self.rows.items() if m.session_id != k}
        return gone

    def prune(self, inactive_before: datetime | None, max_sessions: int | None) -> list[str]:
        live = sorted(self.sessions.values(), key=lambda s: s.updated_at)
        over = len(live) - max_sessions if max_sessions else 0
        pruned = []
        for info in live:
            if not info.pinned and ((inactive_before and info.updated_at < inactive_before) or over > 0):
                self.delete_session(info.id)
                pruned.append(info.id)
                over -= 1
        return pruned

    def append_message(
        self,
        session_id: str,
        role: Role,
        content: str,
        status: MessageStatus = MessageStatus.COMPLETE,
        provider: str | None = None,
        model: str | None = None,
        citations: Sequence[Citation] = (),
        covers: int | None = None,
    ) -> StoredMessage:
        self._write()
        self.get_session(session_id)
        now = _now()
        m = StoredMessage(
            next(self._ids),
            session_id,
            role,
            content,
            status,
            now,
            now,
            provider,
            model,
            citations=tuple(citations),
            covers=covers,
        )
        self.rows[m.id] = m
        return m

    def start_exchange(
        self,
        title: str,
        source: str,
        question: str,
        provider: str | None,
        model: str | None,
        citations: Sequence[Citation] = (),
    ) -> tuple[str, int, int]:
        self._write()
        sid = self.create_session(title, source).id
        q = self.append_message(sid, Role.USER, question)
        a = self.append_message(sid, Role.ASSISTANT, "", MessageStatus.PARTIAL, provider, model, citations)
        return sid, q.id, a.id

    def update_message(
        self,
        message_id: int,
        content: str | None = None,
        status: MessageStatus | None = None,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
        error: str | None = None,
        served: Served | None = None,
        first_token_ms: float | None = None,
        generation_ms: float | None = None,
        tool_steps: str | None = None,
    ) -> None:
        self._write()
        m = self.rows[message_id]
        changes = {
            k: v
            for k, v in dict(
                content=content,
                status=status,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                error=error,
                first_token_ms=first_token_ms,
                generation_ms=generation_ms,
            ).items()
            if v is not None
        }
        if tool_steps is not None:
            changes["tool_steps"] = steps_from_json(tool_steps)
        if served is not None:
            changes.update(provider=served.provider, model=served.model, remote=not served.local)
        self.rows[message_id] = dataclasses.replace(m, **changes, updated_at=_now())

    def supersede(self, session_id: str, from_message_id: int) -> list[int]:
        self._write()
        ids = [
            m.id
            for m in self.messages(session_id)
            if m.id >= from_message_id and not m.superseded and m.role != Role.SUMMARY
        ]
        for i in ids:
            self.rows[i] = dataclasses.replace(self.rows[i], superseded=True)
        return ids

    def messages(self, session_id: str) -> list[StoredMessage]:
        return sorted((m for m in self.rows.values() if m.session_id == session_id), key=lambda m: m.id)

    def record_usage(self, record: UsageRecord) -> None:
        self.usage.append((_now(), record))

    def usage_records(self, since: datetime | None = None) -> list[tuple[datetime, UsageRecord]]:
        return [(at, r) for at, r in self.usage if since is None or at >= since]

    def close(self) -> None:
        self.closed = True
