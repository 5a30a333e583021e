"""Errors a user can act on. Each carries a message that says what happened and what to do.

Tracebacks are for bugs; anything raised as a FlynnError is shown as its message alone.
"""

from __future__ import annotations


class FlynnError(Exception):
    """Base of every error the user can act on."""

    exit_code = 1
    code = "ERROR"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  {self.hint}" if self.hint else self.message


class ConfigError(FlynnError):
    """The configuration file is missing something, or holds a value that can't be used."""

    exit_code = 2
    code = "CONFIG"


class ProviderError(FlynnError):
    """A provider failed while answering. `retryable` says whether trying again may help."""

    code = "PROVIDER"
    retryable = False
    provider_code: str | None = None  # the service's own error code, e.g. "invalid_api_key"


class ModelError(ProviderError):
    """A model can't be found, verified or loaded."""

    code = "MODEL"


class UnknownModelError(ModelError):
    """No model or provider by that name is configured or bundled."""

    code = "MODEL_NOT_FOUND"


class ContextOverflowError(ProviderError):
    """A prompt can't fit in the model's context window."""

    code = "CONTEXT_OVERFLOW"


class ProviderAuthError(ProviderError):
    """The key is missing, wrong or has no access. Retrying never helps."""

    code = "PROVIDER_AUTH"


class ProviderRateLimitError(ProviderError):
    code = "PROVIDER_RATE_LIMIT"
    retryable = True

    def __init__(self, message: str, hint: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, hint)
        self.retry_after = retry_after


class ProviderOverloadedError(ProviderError):
    """The service is overloaded or failing on its side (5xx, 529)."""

    code = "PROVIDER_OVERLOADED"
    retryable = True


class ProviderTimeoutError(ProviderError):
    code = "PROVIDER_TIMEOUT"
    retryable = True


class ProviderConnectionError(ProviderError):
    """The service can't be reached, or the connection dropped."""

    code = "PROVIDER_UNAVAILABLE"
    retryable = True


class ProviderStreamError(ProviderError):
    """The answer's stream ended without its end mark, or held something that is not the provider's
    wire format (an HTML page, broken JSON)."""

    code = "PROVIDER_UNAVAILABLE"
    retryable = True


class ProviderBadRequestError(ProviderError):
    code = "PROVIDER_BAD_REQUEST"


class InvalidParamsError(FlynnError):
    """A request (a gateway body, a WebSocket call, a control-socket call) is malformed."""

    code = "INVALID_PARAMS"


class ForbiddenError(FlynnError):
    """The caller may not do this (a gateway client reaching a file the user did not choose)."""

    code = "FORBIDDEN"


class NotFoundError(FlynnError):
    """A session or message the user named does not exist."""

    code = "NOT_FOUND"


class StorageError(FlynnError):
    """A store can't be read or written (disk full, read-only, damaged, locked)."""

    code = "STORAGE"
    full = False  # the disk is full (writes may work again once there is room)


class QueueFullError(FlynnError):
    """Too many requests wait in one lane (gateway.laneQueue.maxDepth)."""

    code = "QUEUE_FULL"


class QueueTimeoutError(FlynnError):
    """A request waited in its lane longer than gateway.laneQueue.requestTimeoutMs."""

    code = "TIMEOUT"


class InstanceError(FlynnError):
    """Another Flynn owns the stores, or can't be reached."""

    code = "INSTANCE"


class NoDisplayError(FlynnError):
    """The window can't open because there is no display."""

    exit_code = 3
    code = "NO_DISPLAY"


# SQLite's primary result codes (the low byte of an extended code), as sqlite3 errors carry them.
_SQLITE_FULL, _SQLITE_READONLY, _SQLITE_PERM, _SQLITE_CANTOPEN = 13, 8, 3, 14
_SQLITE_CORRUPT, _SQLITE_NOTADB, _SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_IOERR = 11, 26, 5, 6, 10


def _nearly_full(path: object) -> bool:
    """Whether the disk that holds `path` has less than 1 MB left for this user."""
    import os

    folder = os.path.dirname(str(path)) or "."
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):  # no such folder, or no statvfs (Windows)
        return False
    return st.f_bavail * st.f_frsize < (1 << 20)


def storage_error(what: str, path: object, error: BaseException) -> StorageError:
    """The one place that turns a storage failure into what the user can act on: the disk is full,
    the folder can't be written, the file is damaged, another program holds it. By SQLite's result
    code (or the OS's errno), never by the message's words. `what` is e.g. "the session store"."""
    import errno
    import sqlite3

    root: BaseException = getattr(error, "orig", None) or error  # SQLAlchemy wraps sqlite3's errors
    code = getattr(root, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    os_errno = getattr(root, "errno", None)
    detail = str(root)
    # SQLite often reports a full disk as an I/O error (writing its WAL index, say): ask the disk.
    if primary == _SQLITE_IOERR and _nearly_full(path):
        primary = _SQLITE_FULL
    if primary == _SQLITE_FULL or os_errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        full = StorageError(
            f"Can't write {what} ({path}): the disk is full.",
            "Free some disk space and try again; nothing saved before was lost.",
        )
        full.full = True
        return full
    if primary in (_SQLITE_READONLY, _SQLITE_PERM, _SQLITE_CANTOPEN) or os_errno in (
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
    ):
        return StorageError(
            f"Can't write {what} ({path}): the file or its folder is read-only or not yours ({detail}).",
            "Check the permissions of the data folder (`flynn doctor` shows where it is).",
        )
    if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return StorageError(
            f"{what[0].upper()}{what[1:]} ({path}) is damaged: {detail}.",
            "Move the file away (Flynn starts a new one), or restore it from a backup.",
        )
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return StorageError(
            f"{what[0].upper()}{what[1:]} ({path}) is held by another program: {detail}.",
            "Close the other program (or the other Flynn) and try again.",
        )
    if (isinstance(root, sqlite3.Error) and primary == _SQLITE_IOERR) or isinstance(root, OSError):
        return StorageError(
            f"Can't read or write {what} ({path}): the disk reported an error ({detail}).",
            "Check the disk (is it full, removed, or failing?) and try again.",
        )
    return StorageError(f"{what[0].upper()}{what[1:]} ({path}) failed: {detail}.", "See the log for details.")
