"""The official `ollama` client against a live gateway."""

from __future__ import annotations

import httpx
import ollama

from flynn_desktop.core.compaction import SUMMARY_HEADING
from tests.gateway.conftest import Live


def client(live: Live) -> ollama.Client:
    return ollama.Client(host=live.url, headers={"Authorization": f"Bearer {live.token}"})


def test_root_version_tags_show_ps(live: Live) -> None:
    assert httpx.get(live.url + "/").text == "Ollama is running"
    c = client(live)
    names = [m.model for m in c.list().models]
    assert names[0] == "flynn" and "local:smollm2-135m" in names
    shown = c.show("flynn")
    assert shown.modelinfo is not None and shown.modelinfo["flynn.context_length"] == 4096
    assert "completion" in (shown.capabilities or [])
    version = httpx.get(live.url + "/api/version", headers={"Authorization": f"Bearer {live.token}"}).json()
    assert version["version"]
    c.chat(model="flynn", messages=[{"role": "user", "content": "warm up"}])
    assert [m.model for m in c.ps().models] == ["local:smollm2-135m"]


def test_chat_streaming_and_not(live: Live) -> None:
    c = client(live)
    parts = list(c.chat(model="flynn", messages=[{"role": "user", "content": "Hi"}], stream=True))
    assert "".join(p.message.content or "" for p in parts) == "Hello from the fake."
    last = parts[-1]
    assert last.done and last.done_reason == "stop" and last.eval_count == 4
    assert last.total_duration and last.total_duration >= (last.eval_duration or 0) > 0  # nanoseconds
    whole = c.chat(
        model="flynn", messages=[{"role": "user", "content": "Hi"}], stream=False, options={"temperature": 0}
    )
    assert whole.message.content == "Hello from the fake." and whole.done


def test_generate_with_suffix(live: Live) -> None:
    c = client(live)
    r = c.generate(model="flynn", prompt="def f():\n    return ", suffix="\n", options={"num_predict": 8})
    assert r.response == "Hello from the fake." and r.done
    parts = list(c.generate(model="flynn", prompt="Hello", stream=True))
    assert parts[-1].done and "".join(p.response for p in parts) == "Hello from the fake."


def test_an_unknown_model_is_404(live: Live) -> None:
    r = httpx.post(
        live.url + "/api/show", json={"model": "nope"}, headers={"Authorization": f"Bearer {live.token}"}
    )
    assert r.status_code == 404 and "not found" in r.json()["error"]


def test_num_ctx_compacts_old_turns_or_refuses(live: Live) -> None:
    c = client(live)
    long_history = []
    for i in range(12):
        long_history += [
            {"role": "user", "content": f"question {i} " + "words " * 40},
            {"role": "assistant", "content": f"answer {i} " + "words " * 40},
        ]
    messages = [
        {"role": "system", "content": "Be brief."},
        *long_history,
        {"role": "user", "content": "last one"},
    ]
    c.chat(model="flynn", messages=messages, stream=False, options={"num_ctx": 600, "num_predict": 50})
    assert live.fake is not None
    sent = live.fake.prompts[-1]
    # old turns folded into a summary at the end of the client's system prompt, the newest kept
    assert sent[0].content.startswith("Be brief.") and SUMMARY_HEADING in sent[0].content
    assert sent[-1].content == "last one" and 3 <= len(sent) < len(messages)
    r = httpx.post(
        live.url + "/api/chat",
        json={
            "model": "flynn",
            "messages": [{"role": "user", "content": "x " * 2000}],
            "options": {"num_ctx": 256},
        },
        headers={"Authorization": f"Bearer {live.token}"},
    )
    assert r.status_code == 400 and "context" in r.json()["error"]


def test_keep_alive_unloads_or_keeps(live: Live) -> None:
    import time

    c = client(live)
    c.chat(model="flynn", messages=[{"role": "user", "content": "Hi"}], keep_alive="5m")
    assert [m.model for m in c.ps().models] == ["local:smollm2-135m"]
    c.chat(model="flynn", messages=[{"role": "user", "content": "Hi"}], keep_alive=0)
    deadline = time.monotonic() + 30  # the unload is scheduled on the Runtime's loop; wait for it, bounded
    while c.ps().models and time.monotonic() < deadline:
        time.sleep(0.01)
    assert c.ps().models == []
    c.chat(model="flynn", messages=[{"role": "user", "content": "Hi"}], keep_alive="-1")  # loads again, stays
    assert [m.model for m in c.ps().models] == ["local:smollm2-135m"]
    r = httpx.post(
        live.url + "/api/chat",
        json={"model": "flynn", "messages": [{"role": "user", "content": "x"}], "keep_alive": "soon"},
        headers={"Authorization": f"Bearer {live.token}"},
    )
    assert r.status_code == 400


def test_the_memory_block_counts_in_num_ctx(live: Live) -> None:
    """What Flynn adds (its system prompt when the client has none, and the recalled memories) counts in
    the client's num_ctx like the rest: old turns make room for it, and nothing sent exceeds the limit."""
    from flynn_desktop.core.tokens import estimate_prompt_tokens
    from flynn_desktop.runtime import run_sync

    rt = live.runtime
    note = "The launch code of project Heron is 4417, kept in the blue binder. " * 6
    run_sync(rt, lambda: rt.memory.add(note, pinned=True))  # type: ignore[attr-defined]
    messages = []
    for i in range(8):
        messages += [
            {"role": "user", "content": f"question {i} " + "word " * 30},
            {"role": "assistant", "content": f"answer {i} " + "word " * 30},
        ]
    messages.append({"role": "user", "content": "What is the launch code of project Heron?"})
    num_ctx, num_predict = 600, 50
    client(live).chat(
        model="flynn",
        messages=messages,
        stream=False,
        options={"num_ctx": num_ctx, "num_predict": num_predict},
    )
    assert live.fake is not None
    sent = live.fake.prompts[-1]
    assert "4417" in sent[-2].content and sent[-1].content.startswith("What is the launch code")
    assert sent[0].role == "system" and "4417" not in sent[0].content  # Flynn's own system prompt
    assert estimate_prompt_tokens(sent) <= num_ctx - num_predict  # everything sent was counted
    assert 3 <= len(sent) < len(messages)  # old turns made room for the memory
