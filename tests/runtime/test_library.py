"""The model library, end to end against a loopback server that serves a real GGUF (a copy of the
bundled model) as the Hugging Face Hub does: a catalog model pulled by name with progress, fit badges,
`flynn models pull/ls/use/rm/import` and `flynn ask --model local:NAME`, and one local model in memory
at a time. (The gateway's /api/pull, /api/tags and /api/delete: tests/gateway/test_model_library.py.)"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import yaml

from flynn_desktop.config import Config
from flynn_desktop.core.events import ModelState, Progress
from flynn_desktop.errors import InvalidParamsError, ModelError
from flynn_desktop.gateway.server import GatewayServer
from flynn_desktop.providers.catalog import Machine, fit, load_catalog
from tests.conftest import FLYNN, cli_env
from tests.helpers.file_server import FileServer
from tests.helpers.gguf_files import bundled_gguf

pytestmark = pytest.mark.model

SOURCE = bundled_gguf()
SHA = hashlib.sha256(SOURCE.read_bytes()).hexdigest()
CATALOG = load_catalog()
NAME = "smollm2-360m"  # a catalog model; its hf:// file is served here as a copy of the bundled GGUF


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    ref = CATALOG[NAME].url.removeprefix("hf://")
    server = FileServer({"/files/mine.gguf": SOURCE}, hub={ref: SOURCE})
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    yield server
    server.close()


def test_the_catalog_is_honest_and_fit_says_why() -> None:
    assert len(CATALOG) >= 12
    for m in CATALOG.values():
        assert m.url.startswith("hf://") and m.url.endswith(".gguf") and m.licence and m.size > 1e8
        assert m.memory * 1e9 > m.size  # the weights, plus the context, fit in what it says it needs
    small = Machine(memory_total=4 << 30, memory_free=2 << 30, cores=2, avx2=True, disk_free=100 << 30)
    big = CATALOG["llama3.1-8b"]
    assert fit(big.size, big.memory, small).verdict == "too big"
    assert "this computer has" in fit(big.size, big.memory, small).reasons[0]
    tiny = CATALOG["qwen2.5-0.5b"]
    assert fit(tiny.size, tiny.memory, small).verdict == "runs well"
    mid = CATALOG["qwen2.5-3b"]
    slow = fit(mid.size, mid.memory, small)
    assert slow.verdict == "will be slow" and "tokens/s" in slow.reasons[-1]
    no_disk = Machine(memory_total=64 << 30, memory_free=60 << 30, cores=16, avx2=True, disk_free=1 << 20)
    assert "of disk" in fit(tiny.size, tiny.memory, no_disk).reasons[0]
    assert fit(tiny.size, tiny.memory, no_disk, installed=True).verdict == "runs well"


def test_a_catalog_model_is_pulled_by_name_and_answers(make_runtime, hub: FileServer) -> None:  # type: ignore[no-untyped-def]
    cfg = Config.model_validate({"gateway": {"port": 0}})
    rt = make_runtime(config=cfg, providers=None)
    events: list[object] = []
    rt.subscribe(events.append)
    listing = {m["name"]: m for m in rt.submit(_call(rt, "models.catalog")).result()}
    assert listing[NAME]["fit"] in ("runs well", "will be slow") and not listing[NAME]["installed"]
    m = rt.submit(rt.library.pull(NAME)).result()
    assert (
        m.name == NAME
        and m.sha256 == SHA
        and m.catalog == NAME
        and m.path.read_bytes() == SOURCE.read_bytes()
    )
    downloads = [e for e in events if isinstance(e, Progress) and e.task == "model.download"]
    assert downloads and downloads[-1].fraction == 1.0 and downloads[-1].completed == SOURCE.stat().st_size
    assert f"local:{NAME}" in rt.models.choices()
    with pytest.raises(ModelError, match="already installed"):
        rt.submit(rt.library.pull(NAME)).result()
    # the catalog's sampling and context length come with it
    provider = rt.models.provider_for(f"local:{NAME}")
    assert provider.context_length == CATALOG[NAME].context_length
    gw = GatewayServer(rt)
    rt.submit(gw.start()).result()
    try:
        c = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.tokens.get(), max_retries=0)
        r = c.chat.completions.create(
            model=f"local:{NAME}",
            messages=[{"role": "user", "content": "What is the capital of France?"}],
            max_tokens=24,
        )
        assert "Paris" in (r.choices[0].message.content or "")
    finally:
        rt.submit(gw.stop()).result()


async def _call(rt, method: str, params: dict | None = None):  # type: ignore[no-untyped-def]
    from flynn_desktop.runtime.operations import Caller, call

    return await call(rt, method, params or {}, Caller("test"))


def test_only_one_local_model_is_held_in_memory(make_runtime, hub: FileServer) -> None:  # type: ignore[no-untyped-def]
    rt = make_runtime(config=Config(), providers=None)
    rt.submit(rt.library.pull(hub.url + "/files/mine.gguf", "mine", SHA)).result()
    events: list[object] = []
    rt.subscribe(events.append)
    bundled, mine = rt.models.provider_for("local:smollm2-135m"), rt.models.provider_for("local:mine")
    rt.submit(rt.models.load("local:smollm2-135m")).result()
    rt.submit(rt.models.load("local:mine")).result()
    assert mine.loaded and not bundled.loaded  # models.providers.local.maxLoaded: 1
    assert any(isinstance(e, ModelState) and e.state == "unloaded" and "mine" in e.detail for e in events)
    rt.submit(rt.models.load("local:smollm2-135m")).result()  # on demand again
    assert bundled.loaded and not mine.loaded
    # a model a tier uses is kept; the default can be changed to it, and then it is kept
    rt.library.use("mine")
    assert rt.config.models.router.tiers["default"] == "local:mine"
    saved = yaml.safe_load(rt.paths.config_file.read_text())
    assert saved["models"]["router"]["tiers"]["default"] == "local:mine"
    with pytest.raises(InvalidParamsError, match="tier"):
        rt.submit(rt.library.remove("mine")).result()
    rt.library.use("smollm2-135m")
    rt.submit(rt.library.remove("mine")).result()
    assert not (rt.paths.models_dir / "mine.gguf").exists() and "local:mine" not in rt.models.choices()


def test_the_cli_pulls_lists_asks_and_removes(hub: FileServer, tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home", HF_ENDPOINT=hub.url)

    def flynn(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([FLYNN, *args], env=env, capture_output=True, text=True, timeout=300)

    r = flynn("models", "pull", hub.url + "/files/mine.gguf", "--name", "Mine Model", "--sha256", SHA)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "local:mine-model" and "is ready" in r.stderr
    ls = flynn("models", "ls")
    assert "local:mine-model" in ls.stdout and "local:smollm2-135m" in ls.stdout
    ask = flynn("ask", "--model", "local:mine-model", "What is the capital of France?")
    assert ask.returncode == 0 and "Paris" in ask.stdout, ask.stderr
    bad = flynn("models", "pull", hub.url + "/files/mine.gguf", "--name", "bad", "--sha256", "1" * 64)
    assert bad.returncode != 0 and "damaged" in bad.stderr and "deleted" in bad.stderr
    missing = flynn("ask", "--model", "local:nosuch", "hi")
    assert missing.returncode != 0 and "flynn models pull" in missing.stderr
    imported = flynn("models", "import", str(SOURCE), "--link")
    assert imported.returncode == 0 and imported.stdout.strip().startswith("local:smollm2-135m-instruct")
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("hello")
    r = flynn("models", "import", str(not_gguf))
    assert r.returncode != 0 and "not a GGUF" in r.stderr
    assert flynn("models", "rm", "mine-model").returncode == 0
    assert "local:mine-model" not in flynn("models", "ls").stdout
    catalog = flynn("models", "catalog")
    assert NAME in catalog.stdout and ("runs well" in catalog.stdout or "will be slow" in catalog.stdout)
