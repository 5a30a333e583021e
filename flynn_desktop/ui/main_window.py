"""The Flynn window: sessions on the left, the conversation on the right.

Longer than 400 lines on purpose: this is the window's wiring (its widgets, their actions, and what
each Runtime event changes), read top to bottom in one place. What holds state or logic of its own
lives elsewhere: the conversation in view (conversation.py), rendering (render.py), the pages
(settings, usage_view, memory_view, gateway_panel)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from flynn_desktop.core.events import (
    Delta,
    Event,
    GatewayState,
    HealthChanged,
    ModelState,
    Progress,
    RunCancelled,
    RunError,
    RunFinished,
    RunRouted,
    RunStarted,
    SessionsChanged,
    ToolApproval,
    ToolFinished,
    ToolStarted,
)
from flynn_desktop.core.messages import SessionInfo, StoredMessage
from flynn_desktop.errors import FlynnError
from flynn_desktop.ui.backup_menu import BackupMenu
from flynn_desktop.ui.bridge import RuntimeBridge
from flynn_desktop.ui.conversation import Conversation
from flynn_desktop.ui.file_drop import FileDrop
from flynn_desktop.ui.render import (
    COPY_CODE_LINK,
    COPY_LINK,
    EARLIER_LINK,
    EDIT_LINK,
    EXAMPLE_LINK,
    EXAMPLES,
    PIN_LINK,
    REGENERATE_LINK,
    STEPS_LINK,
    SUMMARY_LINK,
    code_blocks,
    conversation_html,
    examples_html,
)
from flynn_desktop.ui.widgets import MessageInput, ModelIndicator

RENDER_INTERVAL_MS = 50


class MainWindow(QMainWindow):
    def __init__(self, bridge: RuntimeBridge, state_file: Path) -> None:
        super().__init__()
        self.bridge = bridge
        self.runtime = bridge.runtime
        self.settings = QSettings(str(state_file), QSettings.Format.IniFormat)
        self.session_id: str | None = None
        self.conversation = Conversation()
        self.runs: dict[str, str] = {}  # run_id -> session_id, for runs this window started or saw
        # Runs that ended. A fast run can end before send()'s reply reaches the GUI thread, so that
        # reply must not bring an ended run back.
        self.ended_runs: set[str] = set()
        self._loads = 0  # session loads in flight
        self.started_runs: set[str] = set()  # runs whose RunStarted this window saw
        self.setWindowTitle("Flynn")
        # Set by the tray: what closing the window does ("hide", "quit", or "stay" when the user
        # cancelled). None: closing the window ends Flynn, as without a tray.
        self.close_hook: Callable[[], str] | None = None
        self.quitting = False
        self.on_quit: Callable[[], None] = QApplication.quit
        self.config_path = state_file.with_name("config.yaml")  # run_gui sets the one Flynn was started with
        self._build()
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(RENDER_INTERVAL_MS)
        self._render_timer.timeout.connect(self._render)
        bridge.event_received.connect(self._on_event)
        bridge.show_requested.connect(self.bring_to_front)
        bridge.quit_requested.connect(self.quit_app)  # `flynn quit`
        self._restore_state()
        self._render()
        self.refresh_sessions()

    # layout ----------------------------------------------------------------------------------------
    def _build(self) -> None:
        left = QWidget()
        lv = QVBoxLayout(left)
        self.new_button = QPushButton("New chat")
        self.new_button.clicked.connect(self.new_chat)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search sessions")
        self.search.textChanged.connect(lambda _t: self.refresh_sessions())
        self.session_list = QListWidget()
        self.session_list.setObjectName("sessionList")
        self.session_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.session_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.session_list.currentItemChanged.connect(self._on_session_selected)
        self.session_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.session_list.customContextMenuRequested.connect(self._session_menu)
        lv.addWidget(self.new_button)
        lv.addWidget(self.search)
        lv.addWidget(self.session_list)

        right = QWidget()
        rv = QVBoxLayout(right)
        top = QHBoxLayout()
        self.model_picker = QComboBox()
        self.model_picker.setObjectName("modelPicker")
        self.model_picker.setToolTip("Which tier or model answers in this chat")
        tiers = self.runtime.config.models.router.tiers
        # The values, by index: None (the default tier) can't be item data, which Qt keeps as a QVariant.
        self.model_values: list[str | None] = [None]
        self.model_picker.addItem(f"default tier ({tiers['default']})")
        for choice in self.runtime.models.choices():
            if choice != "default":
                self.model_values.append(choice)
                self.model_picker.addItem(f"{choice} tier ({tiers[choice]})" if choice in tiers else choice)
        self.model_picker.currentIndexChanged.connect(self._on_model_picked)
        self.settings_button = QPushButton("Models…")
        self.settings_button.clicked.connect(self.open_settings)
        top.addWidget(QLabel("Model:"))
        top.addWidget(self.model_picker, 1)
        top.addWidget(self.settings_button)
        self.usage_button = QPushButton("Usage…")
        self.usage_button.clicked.connect(self.open_usage)
        top.addWidget(self.usage_button)
        self.memory_button = QPushButton("Memory…")
        self.memory_button.clicked.connect(self.open_memory)
        top.addWidget(self.memory_button)
        rv.addLayout(top)
        self.chat_view = QTextBrowser()
        self.chat_view.setObjectName("chatView")
        self.chat_view.setOpenLinks(False)  # links open in the browser; Flynn's own fold summaries
        self.chat_view.anchorClicked.connect(self._on_link)
        self._summaries_unfolded = False
        self._earlier_shown: set[int] = set()  # replaced messages unfolded, by their group's first id
        self._steps_shown: set[int] = set()  # answers whose tool steps are unfolded
        self.my_runs: set[str] = set()  # runs this window started: it answers their tools' questions
        self._waiting: list[ToolApproval] = []  # questions that came before send()'s reply
        # How a tool call the policy asks about is answered: once, always or deny (tests replace it).
        self.ask_tool: Callable[[ToolApproval], str] = self._ask_tool
        self._unhealthy = False  # a health check failed last time
        self.editing: int | None = None  # the question being edited, to resend on Send
        self.edit_bar = QWidget()
        self.edit_bar.setObjectName("editBar")
        eb = QHBoxLayout(self.edit_bar)
        eb.setContentsMargins(0, 0, 0, 0)
        eb.addWidget(QLabel("Editing your question: Send asks it again; the earlier version is kept."), 1)
        cancel_edit = QPushButton("Cancel edit")
        cancel_edit.clicked.connect(self.cancel_edit)
        eb.addWidget(cancel_edit)
        self.edit_bar.setVisible(False)
        self.input = MessageInput()
        self.input.submitted.connect(self.send)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("sendButton")
        self.send_button.clicked.connect(lambda: self.send(self.input.toPlainText()))
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        row.addLayout(buttons)
        rv.addWidget(self.chat_view, 1)
        rv.addWidget(self.edit_bar)
        rv.addLayout(row)
        self.file_drop = FileDrop(self, self.bridge, self.input, self.statusBar().showMessage)

        self.splitter = QSplitter()
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setSizes([260, 740])
        self.setCentralWidget(self.splitter)

        self.model_indicator = ModelIndicator()
        self.statusBar().addPermanentWidget(self.model_indicator)
        self.model_indicator.set_state(self.runtime.models.default_model, "not loaded")

        self.backup_menu = BackupMenu(self.bridge, self, self._after_restore)
        self.menuBar().addMenu(self.backup_menu)
        quit_action = self.backup_menu.addAction("Quit Flynn", self.quit_app)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)

        prefs = self.backup_menu.addAction("Preferences…", self.open_preferences)
        prefs.setShortcut(QKeySequence.StandardKey.Preferences)  # Ctrl+, on Linux and Windows
        prefs.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.backup_menu.insertAction(self.backup_menu.backup_action, prefs)
        mcp = QAction("MCP servers…", self)
        mcp.triggered.connect(self.open_mcp)
        self.backup_menu.insertAction(self.backup_menu.backup_action, mcp)
        models = QAction("Models…", self)
        models.triggered.connect(self.open_models)
        self.backup_menu.insertAction(mcp, models)
        find = QAction("Search sessions", self)
        find.setShortcut(QKeySequence("Ctrl+K"))
        find.triggered.connect(self.search.setFocus)
        find.triggered.connect(self.search.selectAll)
        self.addAction(find)
        stop = QAction("Stop the answer", self)  # or, with none, leave an edit
        stop.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        stop.triggered.connect(lambda: self.stop() if self.stop_button.isEnabled() else self.cancel_edit())
        self.addAction(stop)

        new_action = QAction("New chat", self)
        new_action.setShortcut(QKeySequence.StandardKey.New)
        new_action.triggered.connect(self.new_chat)
        self.addAction(new_action)
        self.resize(1000, 700)

    def _restore_state(self) -> None:
        if self.settings.contains("geometry"):
            self.restoreGeometry(self.settings.value("geometry"))
        if self.settings.contains("splitter"):
            self.splitter.restoreState(self.settings.value("splitter"))

    def save_state(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("splitter", self.splitter.saveState())
        self.settings.sync()

    def closeEvent(self, e: QCloseEvent) -> None:
        self.save_state()
        if self.close_hook is not None and not self.quitting:
            what = self.close_hook()  # the tray decides: hide (Flynn stays), quit, or stay open
            if what == "quit":
                self.quit_app()
            else:
                e.ignore()
                if what == "hide":
                    self.hide()
                return
        super().closeEvent(e)

    def quit_app(self) -> None:
        """Quit Flynn (Ctrl+Q, the tray, `flynn quit`): the window's state saved, then the app ends;
        the host saves answers in flight and drains the gateway."""
        self.quitting = True
        self.save_state()
        self.on_quit()

    def bring_to_front(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    # sessions --------------------------------------------------------------------------------------
    def refresh_sessions(self) -> None:
        query = self.search.text().strip() or None
        self.bridge.call(self.runtime.sessions.list(query), self._show_sessions, self._show_error)

    def _show_sessions(self, sessions: list[SessionInfo]) -> None:
        self.session_list.blockSignals(True)
        self.session_list.clear()
        for s in sessions:
            item = QListWidgetItem(("📌 " if s.pinned else "") + (s.title or "New chat"))
            item.setData(Qt.ItemDataRole.UserRole, s.id)
            item.setData(Qt.ItemDataRole.UserRole + 1, s.pinned)
            item.setData(Qt.ItemDataRole.UserRole + 2, s.title)
            item.setToolTip(f"{s.message_count} messages · {s.updated_at:%Y-%m-%d %H:%M} · {s.source}")
            self.session_list.addItem(item)
            if s.id == self.session_id:
                self.session_list.setCurrentItem(item)
        self.session_list.blockSignals(False)

    def _on_session_selected(self, item: QListWidgetItem | None, _prev: Any = None) -> None:
        if item is not None:
            self.open_session(item.data(Qt.ItemDataRole.UserRole))

    def open_session(self, session_id: str) -> None:
        if session_id != self.session_id:
            self.cancel_edit()
            self._earlier_shown.clear()
        self.session_id = session_id
        self._loads += 1
        self.bridge.call(self.runtime.sessions.get(session_id), self._show_session, self._load_failed)

    def _load_failed(self, e: FlynnError) -> None:
        self._loads -= 1
        self._show_error(e)

    def _show_session(self, result: tuple[SessionInfo, list[StoredMessage]]) -> None:
        self._loads -= 1
        info, messages = result
        if info.id != self.session_id:
            return
        self._show_model(info.model)
        self.conversation.load(messages)
        self._update_buttons()
        self._render()

    def _show_model(self, model: str | None) -> None:
        index = self.model_values.index(model) if model in self.model_values else 0
        self.model_picker.blockSignals(True)
        self.model_picker.setCurrentIndex(index)
        self.model_picker.blockSignals(False)

    def picked_model(self) -> str | None:
        """The tier or model picked for this chat; None is the default tier."""
        return self.model_values[max(0, self.model_picker.currentIndex())]

    def _on_model_picked(self, _index: int) -> None:
        model = self.picked_model()
        if self.session_id is not None:
            self.bridge.call(self.runtime.sessions.set_model(self.session_id, model), None, self._show_error)

    def open_settings(self) -> None:
        from flynn_desktop.ui.settings import ProvidersDialog

        self.settings_dialog = ProvidersDialog(self.bridge, self)
        self.settings_dialog.show()

    def add_gateway_panel(self, token: Callable[[], str] | None = None) -> None:
        from flynn_desktop.ui.gateway_panel import GatewayPanel

        self.gateway_panel = GatewayPanel(self.runtime.gateway_state, token)
        self.statusBar().addPermanentWidget(self.gateway_panel)

    def open_usage(self) -> None:
        from flynn_desktop.ui.usage_view import UsageDialog

        self.usage_dialog = UsageDialog(self.bridge, self)
        self.usage_dialog.show()

    def open_memory(self) -> None:
        from flynn_desktop.ui.memory_view import MemoryDialog

        self.memory_dialog = MemoryDialog(self.bridge, self)
        self.memory_dialog.show()

    def new_chat(self) -> None:
        self.cancel_edit()
        self.session_id = None
        self.conversation.clear()
        self._show_model(None)
        self.session_list.blockSignals(True)
        self.session_list.setCurrentRow(-1)
        self.session_list.blockSignals(False)
        self._update_buttons()
        self._render()
        self.input.setFocus()

    def _session_menu(self, pos: Any) -> None:
        item = self.session_list.itemAt(pos)
        if item is None:
            return
        sid = item.data(Qt.ItemDataRole.UserRole)
        menu = QMenu(self)
        menu.addAction("Rename…", lambda: self.rename_session(sid, item.data(Qt.ItemDataRole.UserRole + 2)))
        menu.addAction("Export as Markdown…", lambda: self.export_session(sid, "markdown"))
        menu.addAction("Export as JSON…", lambda: self.export_session(sid, "json"))
        menu.addAction("Remember a summary", lambda: self.summarize_session(sid))
        pinned = bool(item.data(Qt.ItemDataRole.UserRole + 1))
        menu.addAction("Unpin" if pinned else "Pin (never prune)", lambda: self.pin_session(sid, not pinned))
        menu.addAction("Delete", lambda: self.delete_session(sid))
        menu.addSeparator()
        menu.addAction("Recently deleted…", self.open_trash)
        menu.exec(self.session_list.mapToGlobal(pos))

    def pin_session(self, sid: str, pinned: bool) -> None:
        self.bridge.call(self.runtime.sessions.pin(sid, pinned), None, self._show_error)

    def _after_restore(self) -> None:
        """Show the restored data: the conversation in view again if the backup has it, else a new one."""
        sid = self.session_id

        def show(sessions: list[SessionInfo]) -> None:
            self._show_sessions(sessions)
            if sid is not None and any(s.id == sid for s in sessions):
                self.open_session(sid)
            else:
                self.new_chat()

        self.bridge.call(self.runtime.sessions.list(), show, self._show_error)

    def open_preferences(self) -> None:
        from flynn_desktop.ui.preferences import PreferencesDialog
        from flynn_desktop.ui.theme import apply_theme

        app = QApplication.instance()
        assert isinstance(app, QApplication)
        tiers = list(self.runtime.config.models.router.tiers.values())

        def retheme(theme: str) -> None:
            apply_theme(app, theme)
            self._render()  # the conversation's own colours (code blocks) follow

        self.preferences = PreferencesDialog(self.runtime.config, self.config_path, tiers, retheme, self)
        self.preferences.show()

    def open_mcp(self) -> None:
        from flynn_desktop.ui.mcp_view import McpDialog

        self.mcp_dialog = McpDialog(self.bridge, self)
        self.mcp_dialog.show()

    def open_models(self) -> None:
        from flynn_desktop.ui.models_view import ModelsDialog

        self.models_dialog = ModelsDialog(self.bridge, self)
        self.models_dialog.show()

    def open_trash(self) -> None:
        from flynn_desktop.ui.trash_view import TrashDialog

        self.trash_dialog = TrashDialog(self.bridge, self)
        self.trash_dialog.show()

    def summarize_session(self, sid: str) -> None:
        self.statusBar().showMessage("Summarizing the conversation…")
        self.bridge.call(
            self.runtime.memory.summarize_session(sid),
            lambda m: self.statusBar().showMessage(f"Remembered: {m.text[:120]}", 10000),
            self._show_error,
        )

    def rename_session(self, sid: str, current: str, title: str | None = None) -> None:
        if title is None:
            title, ok = QInputDialog.getText(self, "Rename chat", "Title:", text=current)
            if not ok:
                return
        self.bridge.call(self.runtime.sessions.rename(sid, title), None, self._show_error)

    def delete_session(self, sid: str, confirm: bool = True) -> None:
        if confirm:
            answer = QMessageBox.question(self, "Delete chat", "Delete this chat and all its messages?")
            if answer != QMessageBox.StandardButton.Yes:
                return
        if sid == self.session_id:
            self.new_chat()
        self.bridge.call(self.runtime.sessions.delete(sid), None, self._show_error)

    def export_session(self, sid: str, fmt: str) -> None:
        suffix = "json" if fmt == "json" else "md"
        path, _ = QFileDialog.getSaveFileName(self, "Export chat", f"flynn-{sid}.{suffix}")
        if path:

            def write(text: str) -> None:
                Path(path).write_text(text, "utf-8")

            self.bridge.call(self.runtime.sessions.export(sid, fmt), write, self._show_error)

    # chat ------------------------------------------------------------------------------------------
    def send(self, text: str) -> None:
        if not text.strip() or self._active_run() is not None:
            return
        if self.editing is not None and self.session_id is not None:
            self.resend(self.editing, text)
            return
        self.input.clear()
        # A new chat takes the model picked before its first message, and keeps it.
        model = self.picked_model() if self.session_id is None else None
        self.bridge.call(self.runtime.chat.send(text, self.session_id, model), self._sent, self._show_error)

    def _sent(self, result: tuple[str, str]) -> None:
        run_id, session_id = result
        self.my_runs.add(run_id)
        for ev in [e for e in self._waiting if e.run_id == run_id]:
            self._waiting.remove(ev)
            self._approve(ev)
        if run_id not in self.ended_runs:
            self.runs[run_id] = session_id
        if self.session_id is None:  # a new chat: its turn may have started before we knew its id
            self.session_id = session_id
            if self.picked_model() is not None:
                self._on_model_picked(self.model_picker.currentIndex())
            if run_id in self.started_runs:  # else RunStarted will bring the question and the answer
                self.open_session(session_id)
        self._update_buttons()

    def edit(self, message_id: int) -> None:
        """Put a question in the message box to edit; Send asks it again, the earlier version kept."""
        text = self.conversation.current_text(message_id)
        if text is None or self._active_run() is not None:
            return
        self.editing = message_id
        self.input.setPlainText(text)
        self.input.setFocus()
        self.input.moveCursor(self.input.textCursor().MoveOperation.End)
        self.edit_bar.setVisible(True)

    def cancel_edit(self) -> None:
        if self.editing is not None:
            self.input.clear()
        self.editing = None
        self.edit_bar.setVisible(False)

    def resend(self, message_id: int, text: str | None = None) -> None:
        """Ask a question again: edited (text), or as it was (regenerate an answer)."""
        if self.session_id is None or self._active_run() is not None:
            return
        self.cancel_edit()  # an edit is sent now (its text leaves the box), or given up for a regenerate
        call = self.runtime.chat.resend(self.session_id, message_id, text)
        self.bridge.call(call, self._resent, self._show_error)

    def _resent(self, result: tuple[str, str, list[int]]) -> None:
        run_id, session_id, replaced = result
        if session_id == self.session_id:
            self.conversation.supersede(replaced)
            self._render()
        self._sent((run_id, session_id))

    def _approve(self, ev: ToolApproval) -> None:
        decision = self.ask_tool(ev)
        self.bridge.call(self.runtime.tools.answer(ev.call_id, decision), None, self._show_error)
        if decision == "always":
            self._allow_from_now_on(ev.name)

    def _allow_from_now_on(self, name: str) -> None:
        """ "Always allow" kept in config.yaml's tools.allow (comments and the rest of the file kept)."""
        from flynn_desktop.config.editing import save_settings

        allow = self.runtime.config.tools.allow
        if name in allow:
            return
        try:
            save_settings(self.config_path, {"tools.allow": [*allow, name]})
        except FlynnError as e:
            self._show_error(e)  # allowed until Flynn quits all the same
            return
        allow.append(name)
        self.statusBar().showMessage(
            f"{name} is allowed from now on (tools.allow in {self.config_path}).", 10000
        )

    def _ask_tool(self, ev: ToolApproval) -> str:
        from flynn_desktop.ui.widgets import choose

        where = "Flynn's own tool" if ev.source == "flynn" else f"a tool of {ev.source}"
        what = choose(
            self,
            "Let Flynn run a tool?",
            f"The model wants to run {ev.name} ({where}).",
            [("once", "Allow once"), ("always", "Always allow"), ("deny", "Deny")],
            f"{ev.description}\n\nArguments: {ev.arguments[:2000]}",
        )
        return what or "deny"

    def stop(self) -> None:
        run_id = self._active_run()
        if run_id is not None:
            self.bridge.call(self.runtime.chat.cancel(run_id))

    def _active_run(self) -> str | None:
        for run_id, sid in self.runs.items():
            if sid == self.session_id and self.session_id is not None:
                return run_id
        return None

    def _update_buttons(self) -> None:
        busy = self._active_run() is not None
        self.stop_button.setEnabled(busy)
        self.send_button.setEnabled(not busy)

    def _on_event(self, ev: Event) -> None:
        if isinstance(ev, Progress) and ev.task.startswith("model."):
            self.model_indicator.set_progress(ev.task, ev.fraction)
        elif isinstance(ev, Progress) and ev.task == "chat.compact":
            done = ev.fraction >= 1
            self.statusBar().showMessage("" if done else "Summarising the earlier conversation…", 3000)
        elif isinstance(ev, HealthChanged):
            failing = [c for c in ev.checks if not c.ok]
            if failing:
                self.statusBar().showMessage("; ".join(f"⚠ {c.name}: {c.detail}" for c in failing))
            elif self._unhealthy:  # the first all-clear at start is not news
                self.statusBar().showMessage("All checks pass again.", 5000)
            self._unhealthy = bool(failing)
        elif isinstance(ev, Progress) and ev.task.startswith("memory."):
            done = ev.fraction >= 1
            self.statusBar().showMessage(
                f"{ev.task}: {'done' if done else f'{ev.fraction:.0%}'} {ev.detail}", 5000 if done else 0
            )
        elif isinstance(ev, ModelState):
            self.model_indicator.set_state(ev.model, ev.state, ev.detail)
            if ev.state == "failed":
                self.statusBar().showMessage(ev.detail)
        elif isinstance(ev, SessionsChanged):
            self.refresh_sessions()
        elif isinstance(ev, GatewayState):
            if hasattr(self, "gateway_panel"):
                self.gateway_panel.show_state(ev)
        elif isinstance(ev, RunStarted):
            self.runs[ev.run_id] = ev.session_id
            self.started_runs.add(ev.run_id)
            self.model_indicator.set_state(ev.model, "answering")
            if ev.trimmed_turns:
                self.statusBar().showMessage(
                    f"{ev.trimmed_turns} older turn(s) left out to fit the model's context.", 10000
                )
            if ev.session_id == self.session_id:
                self.conversation.start(ev)  # the saved question and the new answer, without reloading
                self._render()
            self._update_buttons()
        elif isinstance(ev, ToolApproval):
            if ev.run_id in self.my_runs:
                self._approve(ev)
            elif ev.run_id not in self.ended_runs:
                self._waiting.append(ev)  # perhaps this window's: send()'s reply is on its way
        elif isinstance(ev, ToolStarted):
            if ev.session_id == self.session_id:  # a long tool run shows while it runs
                self.statusBar().showMessage(f"Running {ev.name}…", 0)
        elif isinstance(ev, ToolFinished) and ev.session_id == self.session_id:
            self.statusBar().clearMessage()
            if self.conversation.tool_step(ev):
                self._render()
        elif isinstance(ev, RunRouted):
            if ev.tools_dropped and ev.session_id == self.session_id:
                self.statusBar().showMessage(
                    f"{ev.model} takes no tools, so Flynn's tools were not offered.", 10000
                )
            self.model_indicator.set_state(ev.model, "answering" + ("" if ev.local else " (cloud)"))
            if ev.session_id == self.session_id:
                self.conversation.routed(ev.message_id, ev.model, ev.local)
            if ev.notes:
                self.statusBar().showMessage(
                    f"Answered by {ev.model}; passed over: {' '.join(ev.notes)}", 15000
                )
        elif isinstance(ev, Delta):
            shown = self.conversation.stream(ev, ev.session_id == self.session_id)
            if shown and not self._render_timer.isActive():
                self._render_timer.start()
        elif isinstance(ev, RunFinished | RunCancelled | RunError):
            self.runs.pop(ev.run_id, None)
            self.my_runs.discard(ev.run_id)
            self._waiting = [e for e in self._waiting if e.run_id != ev.run_id]
            self.ended_runs.add(ev.run_id)
            if isinstance(ev, RunFinished | RunCancelled):
                self.model_indicator.set_state(self.runtime.models.default_model, "ready")
            if isinstance(ev, RunError) and ev.session_id is None:
                self._show_error(FlynnError(ev.message))
            shown = ev.session_id == self.session_id and ev.session_id is not None
            if self.conversation.end(ev, shown):
                self._render()
            elif shown and ev.session_id is not None:  # it failed before it started: the store has it
                self.open_session(ev.session_id)
            self._update_buttons()

    def _render(self) -> None:
        bar = self.chat_view.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 4
        c = self.conversation
        dark = self.palette().window().color().lightness() < 128  # the theme's colours for code
        if c.messages:
            shown, steps = frozenset(self._earlier_shown), frozenset(self._steps_shown)
            self.chat_view.setHtml(
                conversation_html(c.messages, c.streaming_id, self._summaries_unfolded, dark, shown, steps)
            )
        else:
            self.chat_view.setHtml(examples_html(dark))
        if at_bottom:
            bar.setValue(bar.maximum())

    def _render_in_place(self) -> None:
        """Render again, the reader's place kept (a click in the text, not a new message)."""
        bar = self.chat_view.verticalScrollBar()
        where = bar.value()
        self._render()
        bar.setValue(where)

    def _on_link(self, url: QUrl) -> None:
        link = url.toString()
        numbered: dict[str, Callable[[int], None]] = {  # Flynn's own links that end in a number
            PIN_LINK: self.toggle_pin,
            EDIT_LINK: self.edit,
            REGENERATE_LINK: self.resend,
            EARLIER_LINK: lambda n: self._unfold(self._earlier_shown, n),
            STEPS_LINK: lambda n: self._unfold(self._steps_shown, n),
            EXAMPLE_LINK: lambda n: self.send(EXAMPLES[n]),
        }
        if link == SUMMARY_LINK:
            self._summaries_unfolded = not self._summaries_unfolded
            self._render_in_place()
        elif link.startswith((COPY_LINK, COPY_CODE_LINK)):
            self.copy_from_link(link)
        elif prefix := next((p for p in numbered if link.startswith(p)), None):
            numbered[prefix](int(link[len(prefix) :]))
        else:
            QDesktopServices.openUrl(url)

    def _unfold(self, shown: set[int], ident: int) -> None:
        """Show or hide folded messages or tool steps, the reader's place kept."""
        shown ^= {ident}
        self._render_in_place()

    def toggle_pin(self, message_id: int) -> None:
        pinned = not any(m.pinned for m in self.conversation.messages if m.id == message_id)

        def shown(m: StoredMessage) -> None:
            self.conversation.change(m.id, pinned=m.pinned)
            self._render_in_place()

        self.bridge.call(self.runtime.sessions.pin_message(message_id, pinned), shown, self._show_error)

    def copy_from_link(self, link: str) -> None:
        """A message's copy link (its text) or a code block's (that block's code)."""
        code = link.startswith(COPY_CODE_LINK)
        ident, _, block = link.removeprefix(COPY_CODE_LINK if code else COPY_LINK).partition(":")
        found = [m for m in self.conversation.messages if str(m.id) == ident]
        if not found:
            return
        text = found[0].content
        if code:
            blocks = code_blocks(text)
            text = blocks[int(block)] if block.isdigit() and int(block) < len(blocks) else ""
        if text:
            QGuiApplication.clipboard().setText(text)
            self.statusBar().showMessage("Code copied." if code else "Message copied.", 3000)

    def _show_error(self, e: FlynnError) -> None:
        self.statusBar().showMessage(str(e), 15000)

    # for tests and the tray -------------------------------------------------------------------------
    def transcript(self) -> str:
        return self.chat_view.toPlainText()

    def last_answer(self) -> StoredMessage | None:
        return self.conversation.last_answer()

    def answer_done(self) -> bool:
        """True once the newest answer in view is no longer streaming, and the view shows it as saved."""
        return self.last_answer() is not None and self._active_run() is None and self._loads == 0
