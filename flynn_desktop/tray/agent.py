"""The tray agent: Flynn's icon (its state: ready, answering, loading the model, something wrong,
gateway paused), its menu, what closing the window does, and notifications while the window is hidden.

It hears the Runtime through the window's bridge (Qt signals on the GUI thread); the gateway's pause and
the token come from the host as callables (`Desktop`), so the tray imports neither the gateway nor the
host."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon

from flynn_desktop import autostart
from flynn_desktop.core.events import (
    RUN_END_EVENTS,
    Event,
    GatewayState,
    HealthChanged,
    ModelState,
    Progress,
    RunError,
    RunFinished,
    RunStarted,
)
from flynn_desktop.paths import icon_file
from flynn_desktop.ui.bridge import RuntimeBridge
from flynn_desktop.ui.main_window import MainWindow
from flynn_desktop.ui.widgets import choose

log = logging.getLogger(__name__)
STATES = ("ready", "answering", "loading", "error", "paused")


@dataclass
class Desktop:
    """What the host lends the tray: the gateway's pause and resume (awaitables run on the Runtime's
    loop), and the token."""

    pause_gateway: Callable[[], object] | None = None
    resume_gateway: Callable[[], object] | None = None
    token: Callable[[], str] | None = None


@dataclass
class TrayState:
    """What the icon shows, from the Runtime's events (pure: no Qt)."""

    model: str = ""
    model_state: str = "unloaded"
    model_detail: str = ""
    gateway: str = "off"  # listening | off | failed | paused
    gateway_detail: str = ""
    runs: set[str] = field(default_factory=set)

    def apply(self, ev: Event) -> None:
        if isinstance(ev, ModelState):
            self.model, self.model_state, self.model_detail = ev.model, ev.state, ev.detail
        elif isinstance(ev, GatewayState):
            self.gateway, self.gateway_detail = ev.state, ev.url or ev.detail
        elif isinstance(ev, RunStarted):
            self.runs.add(ev.run_id)
        elif isinstance(ev, RUN_END_EVENTS):
            self.runs.discard(ev.run_id)

    @property
    def icon(self) -> str:
        if self.model_state == "failed" or self.gateway == "failed":
            return "error"
        if self.model_state == "loading":
            return "loading"
        if self.runs:
            return "answering"
        return "paused" if self.gateway == "paused" else "ready"

    def line(self) -> str:
        """The menu's status line: the model and the gateway."""
        model = f"{self.model or 'model'}: {self.model_state}"
        gateway = {
            "listening": f"gateway {self.gateway_detail}",
            "paused": "gateway paused",
            "failed": "gateway failed",
        }.get(self.gateway, "gateway off")
        return f"{model} · {gateway}"


class TrayAgent(QObject):
    def __init__(
        self, app: QApplication, bridge: RuntimeBridge, window: MainWindow, desktop: Desktop
    ) -> None:
        super().__init__()
        self.bridge = bridge
        self.window = window
        self.desktop = desktop
        self.config = bridge.runtime.config.tray
        self.state = TrayState()
        self.state.apply(bridge.runtime.gateway_state)
        self.icons = {s: QIcon(str(icon_file(s))) for s in STATES}
        self.available = QSystemTrayIcon.isSystemTrayAvailable()
        self.notices: list[tuple[str, str]] = []  # what was told (title, text): for tests and the log
        self.quick_box: QObject | None = None
        self.tray = QSystemTrayIcon(self.icons["ready"], self)
        self.tray.setToolTip("Flynn")
        self.tray.activated.connect(self._on_activated)
        self.menu = QMenu()
        self.open_action = self.menu.addAction("Open Flynn", self.show_window)
        self.menu.addAction("New chat", self.new_chat)
        self.menu.addAction("Quick ask…", self.quick_ask)
        self.menu.addSeparator()
        self.pause_action = self.menu.addAction("Pause gateway", self.toggle_gateway)
        self.menu.addAction("Copy gateway token", self.copy_token)
        self.status_action = self.menu.addAction("")
        self.status_action.setEnabled(False)
        self.menu.addSeparator()
        self.login_action: QAction = self.menu.addAction("Start at login")
        self.login_action.setCheckable(True)
        self.login_action.setChecked(autostart.enabled())
        self.login_action.toggled.connect(self.set_start_at_login)
        self.menu.addSeparator()
        self.menu.addAction("Quit Flynn", self.window.quit_app)
        self.tray.setContextMenu(self.menu)
        window.close_hook = self.on_window_close
        app.setQuitOnLastWindowClosed(False)  # a hidden window is not the end of Flynn
        bridge.event_received.connect(self.on_event)
        self._refresh()
        if self.config.enabled and self.available:
            self.tray.show()

    # state -----------------------------------------------------------------------------------------
    def on_event(self, ev: Event) -> None:
        before = (self.state.icon, self.state.line())
        self.state.apply(ev)
        if (self.state.icon, self.state.line()) != before:
            self._refresh()
        if self.window.isVisible():
            return
        if isinstance(ev, RunFinished):
            self.notify("Flynn answered", "Open Flynn to read the answer.")
        elif isinstance(ev, RunError):
            self.notify("Flynn could not answer", ev.message)
        elif isinstance(ev, Progress) and ev.task == "memory.import" and ev.fraction >= 1:
            self.notify("Import finished", ev.detail or "Your files are in Flynn's memory.")
        elif isinstance(ev, ModelState) and ev.state == "failed":
            self.notify("The model failed to load", ev.detail)
        elif isinstance(ev, GatewayState) and ev.state == "failed":
            self.notify("The gateway could not start", ev.detail)
        elif isinstance(ev, HealthChanged) and not all(c.ok for c in ev.checks):
            failing = "; ".join(c.detail for c in ev.checks if not c.ok)
            self.notify("Flynn needs attention", failing)

    def _refresh(self) -> None:
        self.tray.setIcon(self.icons[self.state.icon])
        line = self.state.line()
        self.status_action.setText(line)
        self.tray.setToolTip(f"Flynn — {line}")
        self.pause_action.setText("Resume gateway" if self.state.gateway == "paused" else "Pause gateway")
        self.pause_action.setEnabled(
            self.desktop.pause_gateway is not None and self.state.gateway != "failed"
        )

    def notify(self, title: str, text: str) -> None:
        self.notices.append((title, text))
        log.info("%s: %s", title, text)
        if self.config.notifications and self.tray.isVisible():
            self.tray.showMessage(title, text, self.icons["ready"], 8000)

    # actions ---------------------------------------------------------------------------------------
    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:  # a left click
            if self.window.isVisible() and not self.window.isMinimized():
                self.window.hide()
            else:
                self.show_window()

    def show_window(self) -> None:
        self.window.bring_to_front()

    def new_chat(self) -> None:
        self.window.new_chat()
        self.show_window()

    def quick_ask(self) -> None:
        from flynn_desktop.tray.quick_ask import QuickAsk

        if self.quick_box is None:
            self.quick_box = QuickAsk(self.bridge, self.window)
        assert isinstance(self.quick_box, QuickAsk)
        self.quick_box.present()

    def toggle_gateway(self) -> None:
        act = self.desktop.resume_gateway if self.state.gateway == "paused" else self.desktop.pause_gateway
        if act is not None:
            self.bridge.call(act(), None, lambda e: self.notify("The gateway", str(e)))  # type: ignore[arg-type]

    def copy_token(self) -> None:
        if self.desktop.token is not None:
            QGuiApplication.clipboard().setText(self.desktop.token())
            self.notify("Gateway token copied", "Paste it into your editor plugin's API key field.")

    def set_start_at_login(self, on: bool) -> None:
        try:
            if on:
                png = icon_file(size=256)
                where = autostart.enable(str(png) if png.exists() else None).where
                log.info("Flynn starts at login: %s", where)
            else:
                autostart.disable()
        except OSError as e:
            self.notify("Start at login", f"Could not change it: {e}")
        self.login_action.blockSignals(True)
        self.login_action.setChecked(autostart.enabled())
        self.login_action.blockSignals(False)

    # closing the window ----------------------------------------------------------------------------
    def on_window_close(self) -> str:
        """What closing the window does: hide it (Flynn stays in the tray), quit, or stay open."""
        if not self.config.close_to_tray:
            return "quit"
        if self.tray.isVisible():
            settings = self.window.settings  # the window's own state file
            if not settings.value("toldAboutTray", False, type=bool):
                settings.setValue("toldAboutTray", True)
                self.notify(
                    "Flynn is still running",
                    "Its gateway keeps serving your editor. Open it from the tray icon; quit with "
                    "Quit Flynn in the tray menu, Ctrl+Q, or `flynn quit`.",
                )
            return "hide"
        return self.ask_without_tray()

    def ask_without_tray(self) -> str:
        """No tray on this desktop: ask, rather than stop (or hide) silently."""
        what = choose(
            self.window,
            "Close Flynn?",
            "This desktop has no system tray, so Flynn can't wait there.\n\n"
            "Keep running keeps the gateway serving your editor with no window: run `flynn` to get the "
            "window back, `flynn quit` to end it.",
            [("quit", "Quit Flynn"), ("hide", "Keep running")],
        )
        if what == "hide":
            log.info(
                "the window is closed; Flynn runs on without it (`flynn` shows it, `flynn quit` ends it)"
            )
        return what or "stay"
