"""API keys in the operating system's keyring (Secret Service, macOS Keychain, Windows Credential Locker).

A key in config.yaml (usually `${ENV_VAR}`) wins; otherwise the keyring is asked. Keys are never logged,
never shown in errors, and never sent to the gateway.
"""

from __future__ import annotations

import contextlib
import logging

from flynn_desktop.errors import FlynnError

SERVICE = "flynn-desktop"
log = logging.getLogger(__name__)


def get_key(provider: str) -> str | None:
    try:
        import keyring
        from keyring.errors import KeyringError

        try:
            return keyring.get_password(SERVICE, provider)
        except KeyringError:
            return None
    except ImportError:
        return None


def set_key(provider: str, key: str | None) -> None:
    """Store (or, with None or "", forget) the key for `provider`."""
    import keyring
    from keyring.errors import KeyringError, PasswordDeleteError

    try:
        if key:
            keyring.set_password(SERVICE, provider, key)
        else:
            with contextlib.suppress(PasswordDeleteError):
                keyring.delete_password(SERVICE, provider)
    except KeyringError as e:
        raise FlynnError(
            f"No system keyring can store the key here ({type(e).__name__}).",
            f"Put it in config.yaml instead, as models.providers.{provider}.apiKey: ${{YOUR_ENV_VAR}}.",
        ) from None
    log.info("keyring: %s key for %s", "stored a" if key else "removed the", provider)
