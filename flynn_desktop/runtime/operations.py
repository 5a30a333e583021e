"""The one table of the Runtime's operations, by name: the control socket (`flynn ask`, `flynn
sessions`, `flynn memory` talking to a running Flynn), the in-process CLI and the gateway's WebSocket
all call these. Each operation declares its parameters as a pydantic model, so every face gets the
same validation and the same error for a malformed call. (The window calls the same room methods
directly, typed, through ui.face.RuntimeFace.)

Parameter names follow docs/api/PROTOCOL.md (camelCase); results are plain JSON values.

Longer than 400 lines on purpose: it is the one table, and each entry is a few lines; split, the
table would be read in pieces.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flynn_desktop.config import redacted
from flynn_desktop.core.events import RUN_END_EVENTS, Event, Progress
from flynn_desktop.core.memory import MemoryKind
from flynn_desktop.errors import ForbiddenError, InvalidParamsError
from flynn_desktop.runtime.runtime import Runtime

P = TypeVar("P", bound="Params")


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, date):  # a datetime too
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value


@dataclasses.dataclass(frozen=True)
class Caller:
    """Who calls: `source` tags what they create (cli, gateway:<client>). A caller that is not the
    user at this computer (`trusted` False: a gateway client) may not reach files the user has not
    chosen."""

    source: str = "cli"
    trusted: bool = True


class Params(BaseModel):
    # strict: a number is not a string, a list is not a session id; unknown keys are ignored
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


MAX_TEXT = 1 << 20  # characters of a message or a memory
MAX_ID = 200


class NoParams(Params):
    pass


class SendParams(Params):
    text: str = Field(max_length=MAX_TEXT)
    sessionId: str | None = Field(None, max_length=MAX_ID)
    model: str | None = Field(None, max_length=MAX_ID)
    # Flynn's own tools, when the policy asks: ask this client (tool.approval), allow, or deny
    approvals: Literal["ask", "yes", "no"] = "ask"


class ApproveParams(Params):
    callId: str = Field(min_length=1, max_length=MAX_ID)
    decision: Literal["once", "always", "deny"]


class RunParams(Params):
    runId: str | None = Field(None, max_length=MAX_ID)  # None: every run


class SessionParams(Params):
    sessionId: str = Field(min_length=1, max_length=MAX_ID)


class ResendParams(SessionParams):
    messageId: int = Field(ge=1)
    text: str | None = Field(None, max_length=MAX_TEXT)  # None: the question as it was (regenerate)
    model: str | None = Field(None, max_length=MAX_ID)


class QueryParams(Params):
    query: str | None = Field(None, max_length=10_000)


class TitleParams(Params):
    title: str = Field("", max_length=1000)


class RenameParams(SessionParams):
    title: str = Field(max_length=1000)


class PinMessageParams(Params):
    messageId: int = Field(ge=1)
    pinned: bool = True


class PinSessionParams(SessionParams):
    pinned: bool = True


class SessionModelParams(SessionParams):
    model: str | None = Field(None, max_length=MAX_ID)


class ExportParams(SessionParams):
    format: Literal["markdown", "json"] = "markdown"


class DaysParams(Params):
    days: float | None = Field(None, gt=0)


class MemoryAddParams(Params):
    text: str = Field(max_length=MAX_TEXT)
    pinned: bool = False
    kind: Literal["note", "fact"] = "note"


class MemorySearchParams(Params):
    query: str = Field(max_length=10_000)
    limit: int | None = Field(None, ge=1, le=1000)
    mode: Literal["hybrid", "keyword", "vector"] = "hybrid"


class MemoryListParams(Params):
    kind: str | None = Field(None, max_length=40)
    source: str | None = Field(None, max_length=4096)
    limit: int = Field(200, ge=1, le=100_000)


class MemoryIdParams(Params):
    id: str = Field(min_length=1, max_length=MAX_ID)


class MemoryUpdateParams(MemoryIdParams):
    text: str | None = Field(None, max_length=MAX_TEXT)
    pinned: bool | None = None
    importance: float | None = Field(None, ge=0, le=1)


class MemoryIdsParams(Params):
    ids: list[str] = Field(max_length=100_000)


class SourceParams(Params):
    source: str = Field(min_length=1, max_length=4096)


class PathParams(Params):
    path: str = Field(min_length=1, max_length=4096)


@dataclasses.dataclass(frozen=True)
class Operation(Generic[P]):
    name: str
    params: type[P]
    run: Callable[[Runtime, P, Caller], Awaitable[Any]]
    websocket: bool = False  # offered to gateway clients too (PROTOCOL.md), not only to the CLI

    def parse(self, raw: Any) -> P:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise InvalidParamsError(f"{self.name}: params must be an object.")
        try:
            return self.params.model_validate(raw)
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(x) for x in err['loc']) or 'params'}: {err['msg']}" for err in e.errors()
            )
            raise InvalidParamsError(f"{self.name}: {problems}.") from None


OPERATIONS: dict[str, Operation[Any]] = {}


def operation(name: str, params: type[P], websocket: bool = False) -> Callable[[Any], Any]:
    def register(fn: Callable[[Runtime, P, Caller], Awaitable[Any]]) -> Callable[[Runtime, P, Caller], Any]:
        OPERATIONS[name] = Operation(name, params, fn, websocket)
        return fn

    return register


async def call(runtime: Runtime, name: str, raw: Any, caller: Caller, websocket: bool = False) -> Any:
    """Validate and run one operation. Raises InvalidParamsError for bad params, LookupError for a
    name no face may call here."""
    op = OPERATIONS.get(name)
    if op is None or (websocket and not op.websocket):
        raise LookupError(name)
    return await op.run(runtime, op.parse(raw), caller)


# chat -----------------------------------------------------------------------------------------------
@operation("chat.send", SendParams, websocket=True)
async def _send(rt: Runtime, p: SendParams, c: Caller) -> dict[str, str]:
    run_id, session_id = await rt.chat.send(p.text, p.sessionId, p.model, c.source, p.approvals)
    return {"runId": run_id, "sessionId": session_id}


@operation("tool.approve", ApproveParams, websocket=True)
async def _approve(rt: Runtime, p: ApproveParams, c: Caller) -> dict[str, bool]:
    return {"approved": rt.tools.approve(p.callId, p.decision)}


@operation("chat.resend", ResendParams, websocket=True)
async def _resend(rt: Runtime, p: ResendParams, c: Caller) -> dict[str, Any]:
    run_id, session_id, replaced = await rt.chat.resend(
        p.sessionId, p.messageId, p.text, p.model, source=c.source
    )
    return {"runId": run_id, "sessionId": session_id, "superseded": replaced}


@operation("chat.abort", RunParams, websocket=True)
async def _abort(rt: Runtime, p: RunParams, c: Caller) -> dict[str, bool]:
    return {"aborted": await rt.chat.cancel(p.runId)}


@operation("chat.history", SessionParams, websocket=True)
async def _history(rt: Runtime, p: SessionParams, c: Caller) -> Any:
    _info, messages = await rt.sessions.get(p.sessionId)
    return to_jsonable(messages)


# sessions -------------------------------------------------------------------------------------------
@operation("sessions.list", QueryParams, websocket=True)
async def _list(rt: Runtime, p: QueryParams, c: Caller) -> Any:
    return to_jsonable(await rt.sessions.list(p.query))


@operation("sessions.get", SessionParams, websocket=True)
async def _get(rt: Runtime, p: SessionParams, c: Caller) -> Any:
    info, messages = await rt.sessions.get(p.sessionId)
    return {"session": to_jsonable(info), "messages": to_jsonable(messages)}


@operation("sessions.create", TitleParams, websocket=True)
async def _create(rt: Runtime, p: TitleParams, c: Caller) -> Any:
    return to_jsonable(await rt.sessions.create(p.title, source=c.source))


@operation("sessions.rename", RenameParams, websocket=True)
async def _rename(rt: Runtime, p: RenameParams, c: Caller) -> Any:
    return to_jsonable(await rt.sessions.rename(p.sessionId, p.title))


@operation("sessions.delete", SessionParams, websocket=True)
async def _delete(rt: Runtime, p: SessionParams, c: Caller) -> bool:
    await rt.sessions.delete(p.sessionId)
    return True


@operation("messages.pin", PinMessageParams, websocket=True)
async def _pin_message(rt: Runtime, p: PinMessageParams, c: Caller) -> Any:
    return to_jsonable(await rt.sessions.pin_message(p.messageId, p.pinned))


@operation("sessions.pin", PinSessionParams, websocket=True)
async def _pin_session(rt: Runtime, p: PinSessionParams, c: Caller) -> Any:
    return to_jsonable(await rt.sessions.pin(p.sessionId, p.pinned))


@operation("sessions.trash", NoParams, websocket=True)
async def _trash(rt: Runtime, p: NoParams, c: Caller) -> Any:
    return to_jsonable(await rt.sessions.trash())


@operation("sessions.restore", SessionParams, websocket=True)
async def _restore(rt: Runtime, p: SessionParams, c: Caller) -> Any:
    return to_jsonable(await rt.sessions.restore(p.sessionId))


@operation("sessions.prune", NoParams)
async def _prune(rt: Runtime, p: NoParams, c: Caller) -> Any:
    return await rt.sessions.prune()


@operation("sessions.purge", NoParams)
async def _purge(rt: Runtime, p: NoParams, c: Caller) -> int:
    return await rt.sessions.empty_trash()


@operation("health.checks", NoParams, websocket=True)
async def _health_checks(rt: Runtime, p: NoParams, c: Caller) -> Any:
    """Run the heartbeat's checks now."""
    checks = await rt.health.run()
    return {"ok": all(x.ok for x in checks), "checks": to_jsonable(checks)}


@operation("maintenance", NoParams)
async def _maintenance(rt: Runtime, p: NoParams, c: Caller) -> Any:
    """Both stores' upkeep: space given back, statistics refreshed, integrity checked."""
    done, cache_rows = await rt.maintain()
    files = [{**to_jsonable(u), "freed": u.freed, "ok": u.ok} for u in done]
    return {"files": files, "cacheRowsRemoved": cache_rows}


class BackupParams(Params):
    output: str | None = Field(None, max_length=4096)  # a file, or a folder; default: the backups folder
    includeSecrets: bool = False


class RestoreParams(Params):
    path: str = Field(min_length=1, max_length=4096)
    withConfig: bool = False


@operation("backup", BackupParams)
async def _backup(rt: Runtime, p: BackupParams, c: Caller) -> Any:
    """One archive of sessions, memory and config, made while Flynn runs (control socket only: it
    writes where it is told)."""
    made = await rt.backups.make(Path(p.output).expanduser() if p.output else None, p.includeSecrets)
    return to_jsonable(made)


@operation("backup.last", NoParams)
async def _backup_last(rt: Runtime, p: NoParams, c: Caller) -> Any:
    return to_jsonable(rt.backups.last())


@operation("restore", RestoreParams)
async def _restore_backup(rt: Runtime, p: RestoreParams, c: Caller) -> Any:
    """Replace sessions and memory with an archive's (the replaced data is kept beside)."""
    return await rt.backups.restore(Path(p.path), p.withConfig)


@operation("sessions.model", SessionModelParams)
async def _session_model(rt: Runtime, p: SessionModelParams, c: Caller) -> Any:
    return to_jsonable(await rt.sessions.set_model(p.sessionId, p.model))


@operation("sessions.export", ExportParams)
async def _export(rt: Runtime, p: ExportParams, c: Caller) -> str:
    return await rt.sessions.export(p.sessionId, p.format)


@operation("usage", DaysParams)
async def _usage(rt: Runtime, p: DaysParams, c: Caller) -> Any:
    return to_jsonable(await rt.sessions.usage(p.days))


@operation("usage.days", DaysParams)
async def _usage_days(rt: Runtime, p: DaysParams, c: Caller) -> Any:
    """Answers, tokens and cost per day (the last 30 unless `days` says)."""
    return to_jsonable(await rt.sessions.usage_by_day(p.days or 30))


# the Runtime ----------------------------------------------------------------------------------------
@operation("models.list", NoParams, websocket=True)
async def _models(rt: Runtime, p: NoParams, c: Caller) -> Any:
    tiers = rt.config.models.router.tiers
    return [{"id": m, "tier": m in tiers} for m in rt.models.choices()]


@operation("health", NoParams, websocket=True)
async def _health(rt: Runtime, p: NoParams, c: Caller) -> Any:
    return {"ok": True}


@operation("status", NoParams, websocket=True)
async def _status(rt: Runtime, p: NoParams, c: Caller) -> Any:
    return {"activeRuns": len(rt.chat.active_runs()), "usage": to_jsonable(await rt.sessions.usage())}


@operation("config.get", NoParams, websocket=True)
async def _config(rt: Runtime, p: NoParams, c: Caller) -> Any:
    return redacted(rt.config)


# memory ---------------------------------------------------------------------------------------------
@operation("memory.add", MemoryAddParams, websocket=True)
async def _memory_add(rt: Runtime, p: MemoryAddParams, c: Caller) -> Any:
    memory, merged = await rt.memory.add(p.text, MemoryKind(p.kind), c.source, None, p.pinned)
    return {"memory": to_jsonable(memory), "merged": merged}


@operation("memory.search", MemorySearchParams, websocket=True)
async def _memory_search(rt: Runtime, p: MemorySearchParams, c: Caller) -> Any:
    return to_jsonable(await rt.memory.search(p.query, p.limit, p.mode))


@operation("memory.list", MemoryListParams)
async def _memory_list(rt: Runtime, p: MemoryListParams, c: Caller) -> Any:
    return to_jsonable(await rt.memory.list_memories(p.kind, p.source, p.limit))


@operation("memory.get", MemoryIdParams)
async def _memory_get(rt: Runtime, p: MemoryIdParams, c: Caller) -> Any:
    return to_jsonable(await rt.memory.get(p.id))


@operation("memory.update", MemoryUpdateParams)
async def _memory_update(rt: Runtime, p: MemoryUpdateParams, c: Caller) -> Any:
    return to_jsonable(await rt.memory.update(p.id, p.text, p.pinned, p.importance))


@operation("memory.delete", MemoryIdsParams)
async def _memory_delete(rt: Runtime, p: MemoryIdsParams, c: Caller) -> int:
    return await rt.memory.delete(p.ids)


@operation("memory.forget", SourceParams)
async def _memory_forget(rt: Runtime, p: SourceParams, c: Caller) -> int:
    return await rt.memory.forget_source(p.source)


@operation("memory.sources", NoParams)
async def _memory_sources(rt: Runtime, p: NoParams, c: Caller) -> Any:
    return await rt.memory.sources()


@operation("memory.folders", NoParams)
async def _memory_folders(rt: Runtime, p: NoParams, c: Caller) -> Any:
    return await rt.memory.folders()


@operation("memory.forget_folder", PathParams)
async def _memory_forget_folder(rt: Runtime, p: PathParams, c: Caller) -> int:
    return await rt.memory.forget_folder(p.path)


@operation("memory.stats", NoParams)
async def _memory_stats(rt: Runtime, p: NoParams, c: Caller) -> Any:
    return await rt.memory.stats()


@operation("memory.import", PathParams, websocket=True)
async def _memory_import(rt: Runtime, p: PathParams, c: Caller) -> Any:
    path = Path(p.path).expanduser()
    if not c.trusted:  # a gateway client may re-scan what the user added, not reach any file
        chosen = [Path(str(f["path"])) for f in await rt.memory.folders()]
        real = path.resolve()
        if not any(real == root or root in real.parents for root in chosen):
            raise ForbiddenError(
                f"{p.path} is not in a folder you added to memory.",
                "Add the folder in the window (Memory… → Add folder…) or with `flynn memory import "
                "PATH`; then clients may re-scan it.",
            )
    return to_jsonable(await rt.memory.import_path(path))


@operation("memory.summarize", SessionParams)
async def _memory_summarize(rt: Runtime, p: SessionParams, c: Caller) -> Any:
    return to_jsonable(await rt.memory.summarize_session(p.sessionId))


@operation("memory.reindex", NoParams)
async def _memory_reindex(rt: Runtime, p: NoParams, c: Caller) -> int:
    return await rt.memory.reindex()


# the model library ----------------------------------------------------------------------------------
class PullParams(Params):
    model: str = Field(min_length=1, max_length=2048)  # a catalog name, an https:// URL or hf://org/repo/file
    name: str | None = Field(None, max_length=64)
    sha256: str | None = Field(None, max_length=64)
    force: bool = False  # pull a model the fit check calls too big


class ModelNameParams(Params):
    name: str = Field(min_length=1, max_length=MAX_ID)


class CancelPullParams(ModelNameParams):
    keep: bool = True  # keep what arrived (a pause); False deletes it


class RemoveModelParams(ModelNameParams):
    force: bool = False  # remove it although a tier uses it


class ImportModelParams(PathParams):
    name: str | None = Field(None, max_length=64)
    link: bool = False  # link to the file instead of copying it


class UseModelParams(ModelNameParams):
    tier: str = Field("default", min_length=1, max_length=MAX_ID)


@operation("models.catalog", NoParams, websocket=True)
async def _models_catalog(rt: Runtime, p: NoParams, c: Caller) -> Any:
    """The catalog, each model with its fit for this computer."""
    return await asyncio.to_thread(rt.library.catalog_listing)


@operation("models.catalog.update", NoParams)
async def _models_catalog_update(rt: Runtime, p: NoParams, c: Caller) -> Any:
    return {"models": await rt.library.update_catalog()}


@operation("models.installed", NoParams, websocket=True)
async def _models_installed(rt: Runtime, p: NoParams, c: Caller) -> Any:
    return await asyncio.to_thread(rt.library.installed)


@operation("models.pull", PullParams, websocket=True)
async def _models_pull(rt: Runtime, p: PullParams, c: Caller) -> Any:
    """Download a model into the library; `progress` events (model.download) meanwhile."""
    return (await rt.library.pull(p.model, p.name, p.sha256, p.force)).to_dict()


@operation("models.cancel", CancelPullParams, websocket=True)
async def _models_cancel(rt: Runtime, p: CancelPullParams, c: Caller) -> Any:
    return {"cancelled": rt.library.cancel(p.name, p.keep)}


@operation("models.remove", RemoveModelParams, websocket=True)
async def _models_remove(rt: Runtime, p: RemoveModelParams, c: Caller) -> Any:
    return (await rt.library.remove(p.name, p.force)).to_dict()


@operation("models.import", ImportModelParams)
async def _models_import(rt: Runtime, p: ImportModelParams, c: Caller) -> Any:
    """Add a GGUF file the user has (control socket only: it reads where it is told)."""
    return (await rt.library.import_file(Path(p.path).expanduser(), p.name, p.link)).to_dict()


@operation("models.use", UseModelParams)
async def _models_use(rt: Runtime, p: UseModelParams, c: Caller) -> Any:
    """Make a model the default (or a tier's): written to config.yaml (control socket only)."""
    return rt.library.use(p.name, p.tier)


# streams of events ----------------------------------------------------------------------------------
async def call_with_progress(
    runtime: Runtime, name: str, raw: Any, caller: Caller
) -> AsyncIterator[dict[str, Any]]:
    """Run a long operation (an import, a re-index), yielding its progress events, then its result."""
    queue: asyncio.Queue[Event] = asyncio.Queue()
    unsubscribe = runtime.subscribe(lambda ev: queue.put_nowait(ev) if isinstance(ev, Progress) else None)
    task = asyncio.ensure_future(call(runtime, name, raw, caller))
    try:
        while not task.done():
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield getter.result().to_dict()
            else:
                getter.cancel()
        while not queue.empty():
            yield queue.get_nowait().to_dict()
        yield {"result": task.result()}
    finally:
        unsubscribe()
        if not task.done():
            task.cancel()


async def ask_events(runtime: Runtime, raw: Any, caller: Caller) -> AsyncIterator[dict[str, Any]]:
    """chat.send, then its run's events as dicts, ending with finished, error or cancelled; if the
    asker goes away first, the answer stops and is kept as partial."""
    queue: asyncio.Queue[Event] = asyncio.Queue()
    unsubscribe = runtime.subscribe(queue.put_nowait)
    run_id = None
    try:
        run_id = (await call(runtime, "chat.send", raw, caller))["runId"]
        while True:
            ev = await queue.get()
            owner = getattr(ev, "run_id", None)
            if owner is not None and owner != run_id:
                continue
            yield ev.to_dict()
            if isinstance(ev, RUN_END_EVENTS):
                return
    finally:
        unsubscribe()
        if run_id is not None and run_id in runtime.chat.active_runs():
            await runtime.chat.cancel(run_id)
