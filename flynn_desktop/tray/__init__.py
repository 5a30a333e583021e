"""The tray agent: Flynn's icon and menu while the window is closed, start at login, notifications."""
