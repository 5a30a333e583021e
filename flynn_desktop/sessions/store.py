"""The session store: SQLModel over SQLite in the data folder, or over PostgreSQL (`sessions.url`)
for one history shared by more than one computer.

Every write commits at once (WAL, synchronous=NORMAL), so a crash loses nothing that was shown.
A backup's copy is always an SQLite file (the online backup API, or the rows copied out of
PostgreSQL in one snapshot), so an archive restores into either.

Longer than 400 lines on purpose: every query on the sessions, messages and usage tables, with its
error handling, lives in this one class, the only code that knows their SQL.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import event, func, or_, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, SQLModel, col, create_engine, delete, select

from flynn_desktop.backup import sqlite_copy, sqlite_into
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
from flynn_desktop.errors import InvalidParamsError, NotFoundError, StorageError, storage_error
from flynn_desktop.paths import private_file
from flynn_desktop.sessions import copies
from flynn_desktop.sessions.migrations import migrate
from flynn_desktop.sessions.tables import MessageRow, SessionRow, UsageRow, utcnow
from flynn_desktop.upkeep import upkeep

PRAGMAS = (
    "PRAGMA auto_vacuum = INCREMENTAL",  # a new file gives deleted pages back (flynn maintenance)
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA cache_size = -64000",
    "PRAGMA temp_store = MEMORY",
    "PRAGMA mmap_size = 268435456",
    "PRAGMA busy_timeout = 5000",
)

P = ParamSpec("P")
T = TypeVar("T")


def _aware(d: datetime) -> datetime:
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d


def _storage_errors(fn: Callable[P, T]) -> Callable[P, T]:
    """Turn SQLite failures (disk full, read-only, corrupt) into a StorageError that says what to do."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except SQLAlchemyError as e:
            store = args[0]
            why = getattr(store, "cannot_write", None)
            if why is not None:  # opened read-only on a full disk: the disk is the reason
                raise StorageError(why.message, why.hint) from e
            if getattr(store, "url", None):
                raise store.server_error(e) from e  # type: ignore[attr-defined]
            raise storage_error("the session store", getattr(store, "path", ""), e) from e

    return wrapper


def _message_row(
    session_id: str,
    role: Role,
    content: str,
    status: MessageStatus,
    provider: str | None,
    model: str | None,
    citations: Sequence[Citation],
    now: datetime,
) -> MessageRow:
    return MessageRow(
        session_id=session_id,
        role=role.value,
        content=content,
        status=status.value,
        provider=provider,
        model=model,
        citations=json.dumps([dataclasses.asdict(c) for c in citations]) if citations else None,
        created_at=now,
        updated_at=now,
    )


def hide_password(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


class SQLSessionStore:
    def __init__(self, path: Path, url: str | None = None) -> None:
        self.path = path
        if url and url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")  # the driver Flynn has
        self.url = url if url and not url.startswith("sqlite") else None  # a server's database
        self.where = hide_password(self.url) if self.url else str(path)
        self.cannot_write: StorageError | None = None  # set when opened read-only: why it can't write
        if self.url:
            self._open_server(self.url)
            return
        try:
            private_file(path)
        except OSError as e:
            raise storage_error("the session store", path, e) from e
        self.engine = create_engine(
            f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 5}
        )
        event.listen(self.engine, "connect", _apply_pragmas)
        try:
            self._migrate()
        except SQLAlchemyError as e:
            error = storage_error("the session store", path, e)
            if not error.full or not path.stat().st_size:
                raise error from e
            # A full disk can't take SQLite's WAL files, but what is saved can still be read: open it
            # read-only, and let every write say why it can't.
            self.engine.dispose()
            self.engine = create_engine(
                f"sqlite:///file:{path}?mode=ro&immutable=1&uri=true",
                connect_args={"check_same_thread": False, "uri": True},
            )
            self.cannot_write = error

    def _open_server(self, url: str) -> None:
        args: dict[str, Any] = {"connect_timeout": 10}
        if url.startswith("postgresql"):
            args["options"] = "-c timezone=UTC"  # timestamps are UTC, whatever the server's zone
        try:
            self.engine = create_engine(url, pool_pre_ping=True, connect_args=args)
            self._migrate()
        except (SQLAlchemyError, ImportError) as e:
            raise self.server_error(e) from e

    def server_error(self, e: BaseException) -> StorageError:
        root = getattr(e, "orig", None) or e
        detail = str(root).strip().splitlines()[0] if str(root).strip() else type(root).__name__
        if isinstance(e, ImportError):
            return StorageError(
                f"sessions.url names a database Flynn has no driver for ({self.where}): {detail}.",
                "For PostgreSQL, write postgresql+psycopg://user:password@host/database.",
            )
        return StorageError(
            f"The session database ({self.where}) failed: {detail}.",
            "Check that the database server runs and sessions.url is right, or remove sessions.url to keep "
            "sessions in this computer's data folder.",
        )

    def _migrate(self) -> None:
        SQLModel.metadata.create_all(self.engine, tables=copies.tables())
        with self.engine.begin() as conn:
            migrate(conn)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s:
            yield s

    # sessions -------------------------------------------------------------------------------------
    @_storage_errors
    def create_session(self, title: str = "", source: str = "app") -> SessionInfo:
        now = utcnow()
        row = SessionRow(
            id=uuid.uuid4().hex[:12], title=title, source=source, created_at=now, last_active_at=now
        )
        with self._session() as s:
            s.add(row)
            s.commit()
        return self._info(row, 0)

    def _row(self, s: Session, session_id: str, trashed: bool = False) -> SessionRow:
        """The session by id or unique prefix; one in the trash only when `trashed`."""
        row = s.get(SessionRow, session_id)
        if row is None and session_id and len(session_id) >= 4:  # a unique prefix is enough, as with git
            rows = s.exec(select(SessionRow).where(col(SessionRow.id).startswith(session_id)).limit(2)).all()
            row = rows[0] if len(rows) == 1 else None
        if row is not None and (row.deleted_at is not None) != trashed:
            if trashed:
                raise NotFoundError(f"The session '{session_id}' is not in the trash.")
            raise NotFoundError(
                f"The session '{session_id}' is in the trash.",
                f"`flynn sessions restore {row.id}` brings it back.",
            )
        if row is None:
            raise NotFoundError(f"There is no session '{session_id}'.", "`flynn sessions list` shows them.")
        return row

    def get_session(self, session_id: str) -> SessionInfo:
        with self._session() as s:
            row = self._row(s, session_id)
            n = s.exec(select(func.count()).where(MessageRow.session_id == row.id)).one()
            return self._info(row, n)

    def list_sessions(self, query: str | None = None, limit: int = 200) -> list[SessionInfo]:
        counts = (
            select(MessageRow.session_id, func.count().label("n"))
            .group_by(col(MessageRow.session_id))
            .subquery()
        )
        stmt = (
            select(SessionRow, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.session_id == SessionRow.id)
            .where(col(SessionRow.deleted_at).is_(None))
        )
        if query:
            like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            has_text = select(MessageRow.session_id).where(col(MessageRow.content).ilike(like, escape="\\"))
            stmt = stmt.where(
                or_(col(SessionRow.title).ilike(like, escape="\\"), col(SessionRow.id).in_(has_text))
            )
        stmt = stmt.order_by(col(SessionRow.last_active_at).desc()).limit(limit)
        with self._session() as s:
            return [self._info(row, n) for row, n in s.exec(stmt).all()]

    @_storage_errors
    def rename_session(self, session_id: str, title: str) -> SessionInfo:
        return self._change(session_id, title=title.strip())

    def _change(self, session_id: str, trashed: bool = False, **values: Any) -> SessionInfo:
        """Set some of a session's columns (one in the trash when `trashed`); the session after."""
        with self._session() as s:
            row = self._row(s, session_id, trashed)
            for name, value in values.items():
                setattr(row, name, value)
            s.add(row)
            s.commit()
        return self.get_session(row.id) if row.deleted_at is None else self._info(row, 0)

    @_storage_errors
    def pin_message(self, message_id: int, pinned: bool) -> StoredMessage:
        with self._session() as s:
            row = s.get(MessageRow, message_id)
            if row is None:
                raise NotFoundError(
                    f"There is no message {message_id}.", "List the session's messages first."
                )
            row.pinned = pinned
            s.add(row)
            s.commit()
            return self._message(row)

    @_storage_errors
    def set_session_model(self, session_id: str, model: str | None) -> SessionInfo:
        return self._change(session_id, model=model or None)

    @_storage_errors
    def delete_session(self, session_id: str) -> None:
        """Move a session to the trash (restore_session brings it back; purge_trash ends it)."""
        self._change(session_id, deleted_at=utcnow())

    # retention ------------------------------------------------------------------------------------
    @_storage_errors
    def pin_session(self, session_id: str, pinned: bool) -> SessionInfo:
        return self._change(session_id, pinned=pinned)

    def trash(self) -> list[SessionInfo]:
        """The sessions in the trash, the most recently deleted first."""
        stmt = (
            select(SessionRow)
            .where(col(SessionRow.deleted_at).is_not(None))
            .order_by(col(SessionRow.deleted_at).desc())
        )
        with self._session() as s:
            return [self._info(row, 0) for row in s.exec(stmt).all()]

    @_storage_errors
    def restore_session(self, session_id: str) -> SessionInfo:
        return self._change(session_id, trashed=True, deleted_at=None)

    @_storage_errors
    def purge_trash(self, deleted_before: datetime | None = None) -> list[str]:
        """Delete for good the sessions in the trash since before `deleted_before` (all when None),
        with their messages; returns their ids."""
        with self._session() as s:
            stmt = select(SessionRow.id).where(col(SessionRow.deleted_at).is_not(None))
            if deleted_before is not None:
                stmt = stmt.where(col(SessionRow.deleted_at) < deleted_before)
            ids = list(s.exec(stmt).all())
            if ids:
                s.exec(delete(MessageRow).where(col(MessageRow.session_id).in_(ids)))
                s.exec(delete(SessionRow).where(col(SessionRow.id).in_(ids)))
                s.commit()
        return ids

    @_storage_errors
    def prune(self, inactive_before: datetime | None, max_sessions: int | None) -> list[str]:
        """Move to the trash the sessions last active before `inactive_before`, then the oldest while
        there are more than `max_sessions`; pinned ones never. Returns their ids, oldest first."""
        with self._session() as s:
            live = s.exec(
                select(SessionRow)
                .where(col(SessionRow.deleted_at).is_(None))
                .order_by(col(SessionRow.last_active_at))
            ).all()
            over = len(live) - max_sessions if max_sessions else 0
            now, pruned = utcnow(), []
            for row in live:
                if row.pinned:
                    continue
                old = inactive_before is not None and _aware(row.last_active_at) < inactive_before
                if old or over > 0:
                    row.deleted_at = now
                    s.add(row)
                    pruned.append(row.id)
                    over -= 1
            s.commit()
        return pruned

    # messages -------------------------------------------------------------------------------------
    @_storage_errors
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
        now = utcnow()
        with self._session() as s:
            srow = self._row(s, session_id)
            row = _message_row(srow.id, role, content, status, provider, model, citations, now)
            row.covers = covers
            srow.last_active_at = now
            s.add(row)
            s.add(srow)
            s.commit()
            return self._message(row)

    @_storage_errors
    def start_exchange(
        self,
        title: str,
        source: str,
        question: str,
        provider: str | None,
        model: str | None,
        citations: Sequence[Citation] = (),
    ) -> tuple[str, int, int]:
        """A new session holding a question and the (empty, partial) answer to come, in one
        transaction: what a gateway request writes before the model starts. Returns the session's
        id, the question's and the answer's."""
        now = utcnow()
        session = SessionRow(
            id=uuid.uuid4().hex[:12], title=title, source=source, created_at=now, last_active_at=now
        )
        user = _message_row(session.id, Role.USER, question, MessageStatus.COMPLETE, None, None, (), now)
        answer = _message_row(
            session.id, Role.ASSISTANT, "", MessageStatus.PARTIAL, provider, model, citations, now
        )
        with self._session() as s:
            s.add(session)
            s.flush()  # the session row first: the messages refer to it
            s.add(user)
            s.add(answer)
            s.commit()
        assert user.id is not None and answer.id is not None
        return session.id, user.id, answer.id

    @_storage_errors
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
        values: dict[str, Any] = {"updated_at": utcnow()}
        if served is not None:
            values.update(provider=served.provider, model=served.model, remote=not served.local)
        for key, value in (
            ("content", content),
            ("tokens_in", tokens_in),
            ("tokens_out", tokens_out),
            ("error", error),
            ("first_token_ms", first_token_ms),
            ("generation_ms", generation_ms),
            ("tool_steps", tool_steps),
        ):
            if value is not None:
                values[key] = value
        if status is not None:
            values["status"] = status.value
        table = copies.table(MessageRow)
        with self.engine.begin() as conn:
            conn.execute(table.update().where(table.c.id == message_id).values(**values))

    @_storage_errors
    def supersede(self, session_id: str, from_message_id: int) -> list[int]:
        """Mark a message and every later one of its session as replaced (an edited question and what
        followed it, or a regenerated answer): kept and shown, never sent to a model again. Refused
        for a message a summary already folds in (the summary holds its words). Returns their ids."""
        with self._session() as s:
            row = self._row(s, session_id)
            rows = s.exec(
                select(MessageRow).where(
                    MessageRow.session_id == row.id,
                    col(MessageRow.id) >= from_message_id,
                    col(MessageRow.superseded).is_(False),
                )
            ).all()
            if not any(r.id == from_message_id and r.role != Role.SUMMARY.value for r in rows):
                raise NotFoundError(
                    f"Message {from_message_id} is not a current message of this chat.",
                    "Reload the chat and try again.",
                )
            summaries = [r for r in rows if r.role == Role.SUMMARY.value]
            if any((r.covers or 0) >= from_message_id for r in summaries):
                raise InvalidParamsError(
                    "That message is already folded into the conversation's summary.",
                    "Edit or regenerate a later message, or start a new chat.",
                )
            replaced = [r for r in rows if r.role != Role.SUMMARY.value]
            for r in replaced:
                r.superseded = True
                s.add(r)
            s.commit()
            return [r.id for r in replaced if r.id is not None]

    def messages(self, session_id: str) -> list[StoredMessage]:
        with self._session() as s:
            row = self._row(s, session_id)
            rows = s.exec(
                select(MessageRow).where(MessageRow.session_id == row.id).order_by(col(MessageRow.id))
            ).all()
            return [self._message(r) for r in rows]

    # usage -----------------------------------------------------------------------------------------
    @_storage_errors
    def record_usage(self, record: UsageRecord) -> None:
        with self._session() as s:
            s.add(UsageRow(**dataclasses.asdict(record)))
            s.commit()

    def usage_records(self, since: datetime | None = None) -> list[tuple[datetime, UsageRecord]]:
        stmt = select(UsageRow).order_by(col(UsageRow.id))
        if since is not None:
            stmt = stmt.where(col(UsageRow.at) >= since)
        with self._session() as s:
            return [
                (
                    _aware(r.at),
                    UsageRecord(
                        r.provider,
                        r.model,
                        r.ok,
                        r.remote,
                        r.tokens_in,
                        r.tokens_out,
                        r.latency_ms,
                        r.first_token_ms,
                        r.error,
                    ),
                )
                for r in s.exec(stmt).all()
            ]

    def integrity_check(self) -> str:
        with self.engine.connect() as conn:
            if self.url:
                conn.execute(text("SELECT 1"))
                return "ok"
            return str(conn.execute(text("PRAGMA integrity_check")).scalar())

    @_storage_errors
    def maintain(self) -> Upkeep:
        """Give back the space of deleted sessions, refresh statistics, check the file."""
        if self.url:
            return self._maintain_server()
        with self._sqlite() as db:
            mode = db.isolation_level
            db.isolation_level = None  # VACUUM can't run in a transaction
            try:
                return upkeep(db, self.path)
            except sqlite3.Error as e:
                raise storage_error("the session store", self.path, e) from e
            finally:
                db.isolation_level = mode

    @contextmanager
    def _sqlite(self) -> Iterator[sqlite3.Connection]:
        """The file's own sqlite3 connection (one of the pool's), for what SQLAlchemy has no word for:
        VACUUM, the online backup API."""
        raw = self.engine.raw_connection()
        try:
            db = raw.driver_connection
            assert isinstance(db, sqlite3.Connection)
            yield db
        finally:
            raw.close()

    def _maintain_server(self) -> Upkeep:
        """PostgreSQL: VACUUM (ANALYZE) the three tables; the sizes are the tables' with indexes."""
        names = [t.name for t in copies.tables()]
        size = text("SELECT " + " + ".join(f"pg_total_relation_size('{t}')" for t in names))
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            before = int(conn.execute(size).scalar() or 0)
            conn.execute(text(f"VACUUM (ANALYZE) {', '.join(names)}"))
            after = int(conn.execute(size).scalar() or 0)
        return Upkeep("sessions (PostgreSQL)", before, after, "ok", False)

    @_storage_errors
    def snapshot(self, dest: Path) -> dict[str, int]:
        """A consistent copy of the store in the SQLite file `dest`, while it is in use (SQLite's
        online backup API; from PostgreSQL, the rows of one snapshot). Returns the sessions and
        messages it holds."""
        if self.url:
            return copies.rows_out(self.engine, dest)
        with self._sqlite() as db:
            sqlite_copy(db, dest)
        copy = sqlite3.connect(dest)
        try:
            count = {t: int(copy.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in copies.COUNTED}
        finally:
            copy.close()
        return count

    @_storage_errors
    def restore_from(self, source: Path) -> None:
        """Replace everything in the store with a snapshot's content (a file snapshot() wrote, of
        this or an older schema), in place: whoever holds the store keeps using it."""
        if self.cannot_write is not None:
            raise StorageError(self.cannot_write.message, self.cannot_write.hint)
        if self.url:
            copies.rows_in(self.engine, source)
            return
        with self._sqlite() as db:
            db.commit()
            sqlite_into(source, db)
        self.engine.dispose()  # pooled connections start afresh on the new content
        self._migrate()

    def close(self) -> None:
        self.engine.dispose()

    # conversions ----------------------------------------------------------------------------------
    @staticmethod
    def _info(row: SessionRow, count: int) -> SessionInfo:
        created, active = _aware(row.created_at), _aware(row.last_active_at)
        deleted = _aware(row.deleted_at) if row.deleted_at else None
        return SessionInfo(
            row.id, row.title, created, active, count, row.source, row.model, row.pinned, deleted
        )

    @staticmethod
    def _message(r: MessageRow) -> StoredMessage:
        assert r.id is not None
        return StoredMessage(
            id=r.id,
            session_id=r.session_id,
            role=Role(r.role),
            content=r.content,
            status=MessageStatus(r.status),
            created_at=_aware(r.created_at),
            updated_at=_aware(r.updated_at),
            provider=r.provider,
            model=r.model,
            tokens_in=r.tokens_in,
            tokens_out=r.tokens_out,
            error=r.error,
            remote=r.remote,
            citations=tuple(Citation(**c) for c in json.loads(r.citations)) if r.citations else (),
            covers=r.covers,
            pinned=r.pinned,
            superseded=r.superseded,
            first_token_ms=r.first_token_ms,
            generation_ms=r.generation_ms,
            tool_steps=steps_from_json(r.tool_steps),
        )


def _apply_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    for p in PRAGMAS:
        cur.execute(p)
    cur.close()


__all__ = ["PRAGMAS", "Engine", "SQLSessionStore"]
