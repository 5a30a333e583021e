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
    """The session store can't be written (disk full, read-only, locked)."""

    code = "STORAGE"


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
