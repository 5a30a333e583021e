"""The gateway in the status bar: its address and state, who is connected, the token, and how to
connect an editor."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QApplication, QHBoxLayout, QLabel, QMessageBox, QPushButton, QWidget

from flynn_desktop.core.events import GatewayState

HELP = """<p><b>Connect an editor to Flynn</b></p>
<p>Flynn speaks the OpenAI and Ollama dialects at <code>{url}</code>, with your token.</p>
<p><b>Continue</b> (config.yaml), as an OpenAI provider:</p>
<pre>models:
  - name: Flynn
    provider: openai
    model: flynn
    apiBase: {url}/v1
    apiKey: &lt;your Flynn token&gt;</pre>
<p>Any OpenAI client: base URL <code>{url}/v1</code>, API key = the token, model <code>flynn</code>
(or any <code>provider:model</code>). Any Ollama client: host <code>{url}</code> with the header
<code>Authorization: Bearer &lt;token&gt;</code>.</p>
<p>Local scripts can use the WebSocket JSON-RPC protocol at <code>{ws}/ws</code>
(docs/api/PROTOCOL.md).</p>"""


class GatewayPanel(QWidget):
    """Shows the last GatewayState event: the panel never reads the gateway itself (it lives on the
    Runtime's thread)."""

    def __init__(
        self, state: GatewayState, token: Callable[[], str] | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.token = token
        self.state = state
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self.label.setObjectName("gatewayLabel")
        lay.addWidget(self.label)
        self.copy_button = QPushButton("Copy token")
        self.copy_button.clicked.connect(self.copy_token)
        self.help_button = QPushButton("Connect an editor…")
        self.help_button.clicked.connect(self.show_help)
        lay.addWidget(self.copy_button)
        lay.addWidget(self.help_button)
        self.show_state(state)

    def show_state(self, state: GatewayState) -> None:
        self.state = state
        on = state.state == "listening"
        self.copy_button.setEnabled(on and self.token is not None)
        self.help_button.setEnabled(on)
        if not on:  # the reason's first line in the bar; all of it, with what to do, on hover
            why = state.detail.splitlines()[0] if state.detail else ""
            self.label.setText(f"gateway: off{' — ' + why if why else ''}")
            self.label.setToolTip(state.detail or "gateway.enabled is false")
            return
        who = ", ".join(f"{n} ×{c}" if c > 1 else n for n, c in state.clients) or "no clients"
        self.label.setText(f"gateway: {state.url} · {who}")
        self.label.setToolTip("")

    def copy_token(self) -> None:
        if self.token is not None:
            QApplication.clipboard().setText(self.token())
            self.label.setText("gateway: token copied")

    def show_help(self) -> None:
        url = self.state.url
        self.help_box = QMessageBox(QMessageBox.Icon.Information, "Connect an editor", "", parent=self)
        self.help_box.setText(HELP.format(url=url, ws=url.replace("http", "ws", 1)))
        self.help_box.show()
