"""The MCP servers page, offscreen over a real Runtime and a real stdio MCP server (the SDK's): it
lists the server and its tools; turning it off stops it and keeps "disabled" in mcp.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PySide6.QtCore import Qt

SERVER = Path(__file__).resolve().parents[1] / "helpers" / "mcp_server.py"


def test_the_page_lists_servers_and_turns_one_off_and_on(qtbot, open_window, paths, tmp_path) -> None:  # type: ignore[no-untyped-def]
    paths.ensure()
    mcp_json = paths.config_dir / "mcp.json"
    env = {"MARKER": str(tmp_path / "m")}
    mcp_json.write_text(
        json.dumps(
            {"mcpServers": {"toolbox": {"command": sys.executable, "args": [str(SERVER)], "env": env}}}
        )
    )
    w = open_window()
    w.open_mcp()
    d = w.mcp_dialog
    qtbot.waitUntil(
        lambda: d.tree.topLevelItemCount() == 1 and d.servers[0]["state"] == "ready", timeout=60000
    )
    item = d.tree.topLevelItem(0)
    assert item.text(0) == "toolbox" and item.text(2) == "shout, crash_once, crash"
    assert item.checkState(0) == Qt.CheckState.Checked
    item.setCheckState(0, Qt.CheckState.Unchecked)
    qtbot.waitUntil(lambda: d.servers and d.servers[0]["state"] == "disabled", timeout=60000)
    assert json.loads(mcp_json.read_text())["mcpServers"]["toolbox"]["disabled"] is True
    assert d.tree.topLevelItem(0).checkState(0) == Qt.CheckState.Unchecked
    d.tree.topLevelItem(0).setCheckState(0, Qt.CheckState.Checked)
    qtbot.waitUntil(lambda: d.servers and d.servers[0]["state"] != "disabled", timeout=60000)
    assert "disabled" not in json.loads(mcp_json.read_text())["mcpServers"]["toolbox"]
    d.close()


def test_without_mcp_json_the_page_says_how(qtbot, open_window) -> None:  # type: ignore[no-untyped-def]
    w = open_window()
    w.open_mcp()
    qtbot.waitUntil(lambda: "No MCP servers" in w.mcp_dialog.note.text(), timeout=30000)
    w.mcp_dialog.close()
