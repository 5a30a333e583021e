"""Who may talk to the gateway: the token, and the Host and Origin checks against DNS rebinding and
web pages."""

from __future__ import annotations

import re
import secrets
import socket
from pathlib import Path

from flynn_desktop.addresses import is_ip, is_loopback_host
from flynn_desktop.errors import storage_error
from flynn_desktop.paths import write_private

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
        try:
            write_private(self.path, token + "\n")
        except OSError as e:
            raise storage_error("the gateway token", self.path, e) from e  # the old token stays
        return token


_HOST = re.compile(r"^(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9._-]+))(?::(?P<port>[0-9]{1,5}))?$")


def host_name(host_header: str | None) -> str | None:
    """The host a Host header names, or None when it is not a well-formed host[:port]
    (`[::1]evil.example`, `127.0.0.1@evil.example` and the like are not)."""
    m = _HOST.match((host_header or "").strip().lower())
    if m is None:
        return None
    return m["name"] if m["name"] is not None else m["v6"]


def host_is_loopback(host_header: str | None) -> bool:
    """The Host header names this machine (so a rebinding domain like evil.example is refused)."""
    host = host_name(host_header)
    return host is not None and is_loopback_host(host)


def host_allowed(host_header: str | None, bound: str, allow_remote: bool) -> bool:
    """Loopback names always; with gateway.allowRemote, also the address the gateway is bound to, this
    computer's own names, and any IP address (a DNS-rebinding page can only send a domain name)."""
    if host_is_loopback(host_header):
        return True
    host = host_name(host_header)
    if not allow_remote or host is None:
        return False
    names = {bound.lower().strip("[]"), socket.gethostname().lower(), socket.getfqdn().lower()}
    return host in names or is_ip(host)


def origin_allowed(origin: str | None, allowed: list[str]) -> bool:
    """No Origin (a local program) or one the user listed in gateway.allowedOrigins."""
    return origin is None or origin in allowed


def token_from_headers(authorization: str | None, api_key: str | None) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return api_key.strip() if api_key else None


def token_ok(given: str | None, expected: str) -> bool:
    return given is not None and secrets.compare_digest(given.encode(), expected.encode())
