"""Flynn's own tools in the one pipeline, driven by a loopback server speaking OpenAI's wire format
with scripted tool calls: one call, parallel calls, denied, asked (answered, unanswered, --yes), a
timeout, 1 MB of output, a cached call, too many steps, an unknown tool, a model without tools."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from flynn_desktop.config import Config
from flynn_desktop.core.events import Event, RunRouted, ToolApproval, ToolFinished, ToolStarted
from flynn_desktop.core.messages import MessageStatus
from tests.helpers.fake_provider import FakeProvider
from tests.helpers.fake_servers import FakeServer


@pytest.fixture
def cloud():  # type: ignore[no-untyped-def]
    srv = FakeServer("openai")
    yield srv
    srv.close()


def config(cloud: FakeServer, **tools: Any) -> Config:
    return Config.model_validate(
        {
            "models": {
                "providers": {"cloudy": {"baseUrl": cloud.url + "/v1"}},
                "router": {"tiers": {"default": "cloudy:gpt-test"}, "retry": {"maxAttempts": 1}},
            },
            "memory": {"extraction": {"enabled": False}},
            "tools": tools,
        }
    )


def ask(rt, text: str, approvals: str = "ask") -> tuple[Any, list[Event]]:  # type: ignore[no-untyped-def]
    events: list[Event] = []
    unsubscribe = rt.subscribe(events.append)
    try:

        async def go() -> Any:
            run_id, _sid = await rt.chat.send(text, approvals=approvals)
            return await rt.chat._runs[run_id].task

        result = rt.submit(go()).result(120)
    finally:
        unsubscribe()
    return result, events


def gone(pid: int) -> bool:
    """The process ended (or is a zombie nobody reaped yet); waits for the kill to land, bounded."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.02)
    return False


def tool_messages(cloud: FakeServer, n: int) -> list[dict[str, Any]]:
    """What the n-th chat request sent after the user's message: the assistant's calls and results."""
    msgs = cloud.chat_requests()[n].body["messages"]
    return [m for m in msgs if m["role"] in ("tool",) or m.get("tool_calls")]


def test_one_call_runs_and_the_model_goes_on(make_runtime, cloud) -> None:  # type: ignore[no-untyped-def]
    cloud.scripts = [[("current_time", {})], "It is now."]
    rt = make_runtime(config=config(cloud))
    result, events = ask(rt, "What time is it?")
    assert result.status == MessageStatus.COMPLETE and result.text == "It is now."
    offered = {t["function"]["name"] for t in cloud.chat_requests()[0].body["tools"]}
    assert {"current_time", "memory_search", "memory_add"} <= offered and "run_command" not in offered
    sent = tool_messages(cloud, 1)
    assert sent[0]["tool_calls"][0]["function"]["name"] == "current_time"
    assert sent[1]["role"] == "tool" and sent[1]["tool_call_id"] == "call_0" and "UTC" in sent[1]["content"]
    [started] = [e for e in events if isinstance(e, ToolStarted)]
    [finished] = [e for e in events if isinstance(e, ToolFinished)]
    assert started.call_id == finished.call_id and finished.ok and finished.approved == "policy"
    saved = rt.store.messages(result.session_id)[-1]
    assert saved.content == "It is now." and [s.name for s in saved.tool_steps] == ["current_time"]
    assert saved.tool_steps[0].ok and saved.tool_steps[0].duration_ms >= 0


def test_parallel_calls_of_one_step_and_a_denied_one(make_runtime, cloud) -> None:  # type: ignore[no-untyped-def]
    cloud.scripts = [
        [
            ("memory_add", {"text": "The boat leaves at nine."}),
            ("current_time", {}),
            ("memory_add", {"text": "x"}),
        ],
        "Noted.",
    ]
    rt = make_runtime(config=config(cloud, allow=["memory_*", "current_time"], deny=["memory_add"]))
    result, _events = ask(rt, "Remember the boat")
    steps = rt.store.messages(result.session_id)[-1].tool_steps
    assert [(s.name, s.ok, s.approved) for s in steps] == [
        ("memory_add", False, "denied by policy"),
        ("current_time", True, "policy"),
        ("memory_add", False, "denied by policy"),
    ]
    offered = {t["function"]["name"] for t in cloud.chat_requests()[0].body["tools"]}
    assert "memory_add" not in offered  # a denied tool is not even offered
    results = [m for m in tool_messages(cloud, 1) if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in results] == ["call_0", "call_1", "call_2"]
    assert "did not let memory_add run" in results[0]["content"] and result.text == "Noted."


def test_asking_the_user_once_always_deny_and_no_answer(make_runtime, cloud) -> None:  # type: ignore[no-untyped-def]
    rt = make_runtime(config=config(cloud, executor={"approvalTimeoutMs": 200}))
    answers = iter(["once", "deny", "always"])

    def answer(ev: Event) -> None:
        if isinstance(ev, ToolApproval):
            assert ev.name == "memory_add" and '"Tea at five."' in ev.arguments and ev.source == "flynn"
            rt.tools.approve(ev.call_id, next(answers))

    unsubscribe = rt.subscribe(answer)
    for _ in range(3):
        cloud.scripts += [[("memory_add", {"text": "Tea at five."})], "ok"]
    got = [ask(rt, "remember tea")[0] for _ in range(3)]
    unsubscribe()
    approved = [rt.store.messages(r.session_id)[-1].tool_steps[0].approved for r in got]
    assert approved == ["you", "denied by you", "you (always)"]
    cloud.scripts += [[("memory_add", {"text": "Tea at six."})], "ok"]
    again, events = ask(rt, "remember tea again")  # always allowed now: nobody is asked
    assert not any(isinstance(e, ToolApproval) for e in events)
    assert rt.store.messages(again.session_id)[-1].tool_steps[0].approved == "you (always)"

    cloud.scripts += [[("memory_search", {"query": "tea"})], "ok"]
    rt.config.tools.allow.remove("memory_search")  # now it asks, and nobody answers
    unanswered, events = ask(rt, "what about tea")
    assert any(isinstance(e, ToolApproval) for e in events)
    assert rt.store.messages(unanswered.session_id)[-1].tool_steps[0].approved == "denied: no answer in time"


def test_flynn_ask_yes_and_no_terminal(make_runtime, cloud) -> None:  # type: ignore[no-untyped-def]
    rt = make_runtime(config=config(cloud))
    cloud.scripts = [
        [("memory_add", {"text": "Plants on Sunday."})],
        "ok",
        [("memory_add", {"text": "y"})],
        "ok",
    ]
    yes, _ = ask(rt, "remember plants", approvals="yes")
    no, events = ask(rt, "remember y", approvals="no")
    assert rt.store.messages(yes.session_id)[-1].tool_steps[0].approved == "--yes"
    assert rt.store.messages(no.session_id)[-1].tool_steps[0].approved == "denied: no one to ask"
    assert not any(isinstance(e, ToolApproval) for e in events)


def test_a_slow_command_is_killed_with_its_children_and_long_output_is_cut(
    make_runtime, cloud, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    pidfile = tmp_path / "pid"
    slow = f"sleep 60 & echo $! > {pidfile}; wait"
    cloud.scripts = [
        [
            ("run_command", {"command": slow}),
            ("run_command", {"command": "yes a | head -c 1048576"}),
        ],
        "done",
    ]
    cfg = config(cloud, runCommand={"enabled": True}, executor={"defaultTimeoutMs": 1500})
    rt = make_runtime(config=cfg)
    result, _ = ask(rt, "run things", approvals="yes")
    killed, big = rt.store.messages(result.session_id)[-1].tool_steps
    assert not killed.ok and "took longer than 1.5 s" in killed.result
    assert gone(int(pidfile.read_text()))  # the child in its process group is killed too
    assert big.ok and big.result.startswith("exit code 0\na\na\n")
    assert "[… cut: " in big.result and len(big.result.encode()) < 51200 + 200
    assert "more bytes of 1,048,6" in big.result  # the megabyte and the "exit code" line


def test_a_cacheable_call_is_answered_from_the_cache(make_runtime, cloud, tmp_path) -> None:  # type: ignore[no-untyped-def]
    notes = tmp_path / "notes.txt"
    notes.write_text("first version")
    read = ("read_file", {"path": str(notes)})
    cloud.scripts = [[read], [read], "done"]
    cfg = config(cloud, allow=["read_file"], files={"roots": [str(tmp_path)]}, cache={"enabled": True})
    rt = make_runtime(config=cfg)

    def change(ev: Event) -> None:
        if isinstance(ev, ToolFinished):
            notes.write_text("second version")

    unsubscribe = rt.subscribe(change)
    result, _ = ask(rt, "read it twice")
    unsubscribe()
    steps = rt.store.messages(result.session_id)[-1].tool_steps
    assert [s.result for s in steps] == ["first version", "first version"]  # the second from the cache
    outside = ("read_file", {"path": "/etc/hostname"})
    cloud.scripts = [[outside], "done"]
    result, _ = ask(rt, "read outside")
    step = rt.store.messages(result.session_id)[-1].tool_steps[0]
    assert not step.ok and "outside the folders you allowed" in step.result


def test_too_many_steps_end_with_a_pass_without_tools(make_runtime, cloud) -> None:  # type: ignore[no-untyped-def]
    cloud.scripts = [[("current_time", {})], [("current_time", {})]]
    rt = make_runtime(config=config(cloud, executor={"maxSteps": 2}))
    result, _ = ask(rt, "loop forever")
    bodies = [r.body for r in cloud.chat_requests()]
    assert len(bodies) == 3 and "tools" in bodies[1] and not bodies[2].get("tools")
    assert result.text == "Hello from the cloud." and result.status == MessageStatus.COMPLETE
    assert len(rt.store.messages(result.session_id)[-1].tool_steps) == 2


def test_an_unknown_tool_is_told_to_the_model(make_runtime, cloud) -> None:  # type: ignore[no-untyped-def]
    cloud.scripts = [[("launch_rockets", {})], "Sorry."]
    rt = make_runtime(config=config(cloud))
    result, _ = ask(rt, "launch")
    step = rt.store.messages(result.session_id)[-1].tool_steps[0]
    assert not step.ok and step.result == "There is no tool named launch_rockets." and result.text == "Sorry."


def test_a_model_without_tools_answers_and_says_tools_were_not_offered(make_runtime) -> None:  # type: ignore[no-untyped-def]
    fake = FakeProvider()
    rt = make_runtime(fake)
    result, events = ask(rt, "hi")
    assert result.text == "Hello from the fake."
    assert any(isinstance(e, RunRouted) and e.tools_dropped for e in events)


def test_tools_off_offer_nothing(make_runtime, cloud) -> None:  # type: ignore[no-untyped-def]
    rt = make_runtime(config=config(cloud, enabled=False))
    ask(rt, "hi")
    assert not cloud.chat_requests()[0].body.get("tools")


def test_tool_steps_are_exported(make_runtime, cloud) -> None:  # type: ignore[no-untyped-def]
    import json

    cloud.scripts = [[("current_time", {})], "It is now."]
    rt = make_runtime(config=config(cloud))
    result, _ = ask(rt, "time?")
    md = rt.submit(rt.sessions.export(result.session_id, "markdown")).result()
    assert "*Tool:* `current_time({})` ran (policy): " in md
    doc = json.loads(rt.submit(rt.sessions.export(result.session_id, "json")).result())
    assert doc["messages"][-1]["tool_steps"][0]["name"] == "current_time"


def test_an_anthropic_model_runs_flynns_tools(make_runtime) -> None:  # type: ignore[no-untyped-def]
    claude = FakeServer("anthropic")
    try:
        cfg = Config.model_validate(
            {
                "models": {
                    "providers": {"anthropic": {"baseUrl": claude.url, "apiKey": "sk-ant-test"}},
                    "router": {"tiers": {"default": "anthropic:claude-test"}, "retry": {"maxAttempts": 1}},
                },
                "memory": {"extraction": {"enabled": False}},
            }
        )
        claude.scripts = [[("current_time", {}), ("memory_search", {"query": "tea"})], "It is tea time."]
        rt = make_runtime(config=cfg)
        result, _ = ask(rt, "Is it tea time?")
        assert result.text == "It is tea time." and result.status == MessageStatus.COMPLETE
        first, second = (r.body for r in claude.chat_requests())
        offered = {t["name"]: t for t in first["tools"]}
        assert offered["memory_search"]["input_schema"]["required"] == ["query"]
        assistant, results = second["messages"][-2:]
        assert (
            assistant["role"] == "assistant" and [b["type"] for b in assistant["content"]] == ["tool_use"] * 2
        )
        assert assistant["content"][1] == {
            "type": "tool_use",
            "id": "toolu_1",
            "name": "memory_search",
            "input": {"query": "tea"},
        }
        assert results["role"] == "user" and [b["tool_use_id"] for b in results["content"]] == [
            "toolu_0",
            "toolu_1",
        ]
        steps = rt.store.messages(result.session_id)[-1].tool_steps
        assert [(s.name, s.ok) for s in steps] == [("current_time", True), ("memory_search", True)]
    finally:
        claude.close()


def test_an_ollama_model_runs_flynns_tools(make_runtime) -> None:  # type: ignore[no-untyped-def]
    local_ollama = FakeServer("ollama")  # calls the first tool offered, then answers its result in text
    try:
        cfg = Config.model_validate(
            {
                "models": {
                    "providers": {"ollama": {"host": local_ollama.url}},
                    "router": {"tiers": {"default": "ollama:llama3"}, "retry": {"maxAttempts": 1}},
                },
                "memory": {"extraction": {"enabled": False}},
            }
        )
        rt = make_runtime(config=cfg)
        result, _ = ask(rt, "What time is it?")
        assert result.status == MessageStatus.COMPLETE and result.text
        second = local_ollama.chat_requests()[1].body["messages"]
        call, answer = second[-2:]
        assert call["tool_calls"][0]["function"]["name"] == "current_time"
        assert answer["role"] == "tool" and answer["tool_name"] == "current_time"  # Ollama's own shape
        assert rt.store.messages(result.session_id)[-1].tool_steps[0].ok
    finally:
        local_ollama.close()
