"""The gateway in the status bar: its address and state, who is connected, the token, and how to
connect an editor."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QHBoxLayout, QLabel, QMessageBox, QPushButton, QWidget

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
    def __init__(self, gateway: Any | None, error: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.gateway: Any = gateway
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
        if gateway is None:
            self.label.setText(f"gateway: off{' — ' + error if error else ''}")
            self.label.setToolTip(error or "gateway.enabled is false")
            self.copy_button.setEnabled(False)
            self.help_button.setEnabled(False)
            return
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(2000)
        self.refresh()

    def refresh(self) -> None:
        clients = dict(self.gateway.clients.active)
        who = ", ".join(f"{n} ×{c}" if c > 1 else n for n, c in sorted(clients.items())) or "no clients"
        self.label.setText(f"gateway: {self.gateway.url} · {who}")

    def copy_token(self) -> None:
        QApplication.clipboard().setText(self.gateway.tokens.get())
        self.label.setText("gateway: token copied")

    def show_help(self) -> None:
        url = self.gateway.url
        self.help_box = QMessageBox(QMessageBox.Icon.Information, "Connect an editor", "", parent=self)
        self.help_box.setText(HELP.format(url=url, ws=url.replace("http", "ws", 1)))
        self.help_box.show()
