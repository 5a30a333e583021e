"""The window fixtures, shared with the tray's tests."""

from tests.ui.conftest import open_window  # noqa: F401
