"""What a host name or address names: this computer, or another one. Used by the config's checks,
the providers (does a request leave the machine?) and the gateway (Host headers)."""

from __future__ import annotations

import ipaddress


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def is_loopback_host(host: str) -> bool:
    """`localhost`, or an address of this computer's loopback (127.0.0.0/8, ::1); brackets allowed."""
    host = host.lower().strip("[]")
    return host == "localhost" or (is_ip(host) and ipaddress.ip_address(host).is_loopback)
