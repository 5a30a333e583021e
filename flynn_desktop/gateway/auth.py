"""Who may talk to the gateway: the token, and the Host and Origin checks against DNS rebinding and
web pages."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


class TokenStore:
    """The gateway token: made on first run, kept with mode 0600 in the data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "gateway.token"

    def get(self) -> str:
        try:
            token = self.path.read_text().strip()
            if token:
                return token
        except FileNotFoundError:
            pass
        return self.rotate()

    def rotate(self) -> str:
        token = secrets.token_urlsafe(32)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        with contextlib.suppress(OSError):
            os.chmod(tmp, 0o600)
        tmp.replace(self.path)
        return token


def host_is_loopback(host_header: str | None) -> bool:
    """The Host header names this machine (so a rebinding domain like evil.example is refused)."""
    if not host_header:
        return False
    host = host_header.strip().lower()
    if host.startswith("["):  # [::1]:port
        host = host.split("]")[0] + "]"
    elif host.count(":") == 1:
        host = host.split(":")[0]
    return host in LOOPBACK_HOSTS


def origin_allowed(origin: str | None, allowed: list[str]) -> bool:
    """No Origin (a local program) or one the user listed in gateway.allowedOrigins."""
    return origin is None or origin in allowed


def token_from_headers(authorization: str | None, api_key: str | None) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return api_key.strip() if api_key else None


def token_ok(given: str | None, expected: str) -> bool:
    return given is not None and secrets.compare_digest(given.encode(), expected.encode())
