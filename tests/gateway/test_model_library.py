"""Ollama-speaking tools manage Flynn's model library through the gateway: /api/pull (NDJSON progress,
like Ollama's), /api/tags listing the downloaded models, /api/delete, with the real `ollama` client,
against a loopback server that serves a real GGUF as the Hugging Face Hub does."""

from __future__ import annotations

from collections.abc import Iterator

import ollama
import pytest

from flynn_desktop.providers.catalog import load_catalog
from tests.gateway.conftest import Live
from tests.helpers.file_server import FileServer
from tests.helpers.gguf_files import bundled_gguf

pytestmark = pytest.mark.model

SOURCE = bundled_gguf()
NAME = "smollm2-360m"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    server = FileServer({}, hub={load_catalog()[NAME].url.removeprefix("hf://"): SOURCE})
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    yield server
    server.close()


def test_ollama_clients_pull_list_and_delete(live: Live, hub: FileServer) -> None:
    c = ollama.Client(host=live.url, headers={"Authorization": f"Bearer {live.token}"})
    steps = list(c.pull(NAME, stream=True))
    assert steps[0].status == "pulling manifest" and steps[-1].status == "success"
    sizes = [s.completed for s in steps if s.completed]
    assert sizes == sorted(sizes) and sizes[-1] == SOURCE.stat().st_size
    assert any(s.status == "verifying sha256 digest" for s in steps)
    listed = {m.model: m for m in c.list().models}
    assert listed[f"local:{NAME}"].size == SOURCE.stat().st_size
    r = c.chat(
        model=f"local:{NAME}",
        messages=[{"role": "user", "content": "Say hello."}],
        options={"num_predict": 8},
    )
    assert r.message.content
    c.delete(f"local:{NAME}")
    assert f"local:{NAME}" not in {m.model for m in c.list().models}
    with pytest.raises(ollama.ResponseError) as gone:
        c.delete(f"local:{NAME}")
    assert gone.value.status_code == 404 and "no model" in str(gone.value)
    with pytest.raises(ollama.ResponseError) as bad:
        c.pull("nosuch-model-name")
    assert "catalog" in str(bad.value)
