"""memory.embeddings.provider: ollama or an OpenAI-compatible provider, through the real SDKs, against
servers on 127.0.0.1 that speak those wire formats."""

from __future__ import annotations

import pytest

from flynn_desktop.config import Config
from flynn_desktop.runtime import run_sync
from tests.helpers.fake_provider import FakeProvider
from tests.helpers.fake_servers import FakeServer, Fault


@pytest.mark.parametrize("dialect", ["ollama", "openai"])
def test_memory_embeds_through_a_configured_provider(make_runtime, dialect: str) -> None:  # type: ignore[no-untyped-def]
    srv = FakeServer(dialect)
    try:
        if dialect == "ollama":
            providers = {"ollama": {"host": srv.url}}
            embeddings = {"provider": "ollama", "model": "nomic-embed-text"}
        else:
            providers = {"homelab": {"baseUrl": srv.url + "/v1", "models": ["embed-small"]}}
            embeddings = {"provider": "homelab", "model": "embed-small"}
        cfg = Config.model_validate(
            {"models": {"providers": providers}, "memory": {"embeddings": embeddings}}
        )
        rt = make_runtime(FakeProvider(), config=cfg)
        run_sync(rt, lambda: rt.memory.add("The harbour ferry leaves at 08:15."))
        run_sync(rt, lambda: rt.memory.add("Prune the roses in February."))
        hits = run_sync(rt, lambda: rt.memory.search("when does the harbour ferry leave?")).hits
        assert hits[0].memory.text == "The harbour ferry leaves at 08:15." and hits[0].vector > 0
        stats = run_sync(rt, rt.memory.stats)
        assert stats["embedder"] == f"{embeddings['provider']}:{embeddings['model']}"
        paths = [r.path for r in srv.chat_requests()]
        assert paths and all(p.endswith(("/api/embed", "/v1/embeddings")) for p in paths)

        srv.faults.extend([Fault(status=500)] * 4)  # the embedding server fails: words still work
        result = run_sync(rt, lambda: rt.memory.search("roses"))
        assert result.mode == "keyword" and "words only" in result.notice
        assert [h.memory.text for h in result.hits] == ["Prune the roses in February."]
    finally:
        srv.close()
