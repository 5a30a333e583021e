"""The MCP host: a stdio server written with the `mcp` SDK (tests/helpers/mcp_server.py), started from
mcp.json in the config folder when its tools are first needed; its tools run as mcp__<server>__<tool>
under the same policy; one that dies mid-call is restarted once, then reported; it stops with Flynn."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from flynn_desktop.errors import ConfigError
from flynn_desktop.runtime.mcp import read_servers
from tests.helpers.fake_servers import FakeServer
from tests.runtime.test_tools import ask, config, gone

SERVER = Path(__file__).resolve().parents[1] / "helpers" / "mcp_server.py"


@pytest.fixture
def cloud():  # type: ignore[no-untyped-def]
    srv = FakeServer("openai")
    yield srv
    srv.close()


def write_mcp_json(paths, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    paths.ensure()
    pidfile = tmp_path / "pids"
    env = {"MARKER": str(tmp_path / "marker"), "PIDFILE": str(pidfile)}
    doc = {"mcpServers": {"toolbox": {"command": sys.executable, "args": [str(SERVER)], "env": env}}}
    (paths.config_dir / "mcp.json").write_text(json.dumps(doc))
    return pidfile


def test_an_mcp_servers_tools_run_under_the_policy_and_it_stops_with_flynn(
    make_runtime, paths, cloud, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    pidfile = write_mcp_json(paths, tmp_path)
    cloud.scripts = [[("mcp__toolbox__shout", {"text": "hello"})], "It shouted."]
    rt = make_runtime(config=config(cloud))
    result, _ = ask(rt, "shout hello", approvals="yes")  # the policy asks (default): --yes allows
    offered = {t["function"]["name"] for t in cloud.chat_requests()[0].body["tools"]}
    assert {"mcp__toolbox__shout", "mcp__toolbox__crash", "current_time"} <= offered
    [step] = rt.store.messages(result.session_id)[-1].tool_steps
    assert (step.ok, step.result, step.source, step.approved) == (True, "HELLO!", "mcp:toolbox", "--yes")
    assert "shouting 'hello'" in (paths.log_dir / "mcp-toolbox.log").read_text()  # its stderr

    cloud.scripts = [[("mcp__toolbox__shout", {"text": "x"})], "ok"]
    rt.config.tools.deny.append("mcp__toolbox__shout")
    denied, _ = ask(rt, "shout", approvals="yes")
    assert rt.store.messages(denied.session_id)[-1].tool_steps[0].approved == "denied by policy"

    cloud.scripts = [[("mcp__toolbox__crash_once", {"text": "a"})], "ok", [("mcp__toolbox__crash", {})], "ok"]
    again, _ = ask(rt, "crash once", approvals="yes")
    [step] = rt.store.messages(again.session_id)[-1].tool_steps
    assert step.ok and step.result == "survived: a"  # restarted once, and the call answered
    dead, _ = ask(rt, "crash", approvals="yes")
    [step] = rt.store.messages(dead.session_id)[-1].tool_steps
    assert not step.ok and "died during crash, and again after a restart" in step.result
    [server] = rt.tools.mcp.describe()
    assert server["state"] == "failed" and server["tools"] == ["shout", "crash_once", "crash"]

    cloud.scripts = [[("mcp__toolbox__crash_once", {"text": "b"})], "ok"]
    after, _ = ask(rt, "again", approvals="yes")  # a failed server's tools are gone, and it says why
    step = rt.store.messages(after.session_id)[-1].tool_steps[0]
    assert "The MCP server toolbox is not running: it died, and again after a restart" in step.result
    rt.stop()
    assert all(gone(int(pid)) for pid in pidfile.read_text().split())  # every start, stopped


def test_a_broken_mcp_json_is_named_and_flynns_own_tools_go_on(make_runtime, paths, cloud) -> None:  # type: ignore[no-untyped-def]
    paths.ensure()
    (paths.config_dir / "mcp.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"mcp\.json can't be read"):
        read_servers(paths.config_dir / "mcp.json")
    cloud.scripts = [[("current_time", {})], "Now."]
    rt = make_runtime(config=config(cloud))
    result, _ = ask(rt, "time")
    assert result.text == "Now." and "mcp.json can't be read" in rt.tools.mcp.error
    (paths.config_dir / "mcp.json").write_text(json.dumps({"mcpServers": {"x": {"args": []}}}))
    with pytest.raises(ConfigError, match="needs a command"):
        read_servers(paths.config_dir / "mcp.json")


def test_a_streamable_http_server(make_runtime, paths, cloud, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import socket
    import subprocess
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--http", str(port)],
        stderr=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60  # a hang guard: it listens within a second or two
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "the MCP server never listened"
                time.sleep(0.05)
        paths.ensure()
        doc = {
            "mcpServers": {"web": {"url": f"http://127.0.0.1:{port}/mcp", "headers": {"X-Client": "flynn"}}}
        }
        (paths.config_dir / "mcp.json").write_text(json.dumps(doc))
        cloud.scripts = [[("mcp__web__shout", {"text": "over http"})], "ok"]
        rt = make_runtime(config=config(cloud, allow=["mcp__web__shout"]))
        result, _ = ask(rt, "shout over http")
        [step] = rt.store.messages(result.session_id)[-1].tool_steps
        assert (step.ok, step.result, step.source, step.approved) == (True, "OVER HTTP!", "mcp:web", "policy")
        assert rt.tools.mcp.describe()[0]["transport"] == "http"
    finally:
        proc.terminate()
        proc.wait(30)
