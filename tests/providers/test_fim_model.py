"""A local GGUF with fill-in-the-middle tokens of its own: the bundled model's weights with three of its
control tokens renamed to Qwen2.5-Coder's marks (`<|fim_prefix|>`, `<|fim_suffix|>`, `<|fim_middle|>`),
so llama.cpp reads them as the model's FIM tokens, as it does for a real coder model. An editor's
autocomplete, in whatever marks the plugin sends, reaches llama.cpp as the model's own untemplated FIM
prompt (the marks as single tokens, prefix then suffix then middle), and the answer comes back clean.
The weights were not trained for these tokens, so what is checked is the path, not the code written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import ollama
import openai
import pytest

from flynn_desktop.config import Config
from flynn_desktop.core.fim import FIM_FORMATS
from flynn_desktop.gateway.server import GatewayServer
from tests.helpers.gguf_files import rewrite

pytestmark = pytest.mark.model

QWEN = FIM_FORMATS[0]
IDS = (11, 12, 13)  # <jupyter_start>, <jupyter_text>, <jupyter_code> in the bundled vocabulary
CODE, AFTER = "def add(a, b):\n    return ", "\n\nprint(add(1, 2))\n"


@pytest.fixture(scope="module")
def fim_gguf(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("gguf") / "smollm2-fim.gguf"
    return rewrite(out, tokens=dict(zip(IDS, QWEN, strict=True)))


def test_autocomplete_reaches_llama_cpp_as_the_models_own_fim_prompt(make_runtime, fim_gguf) -> None:  # type: ignore[no-untyped-def]
    name = f"local:{fim_gguf}"
    cfg = Config.model_validate({"gateway": {"port": 0}, "models": {"router": {"tiers": {"default": name}}}})
    rt = make_runtime(config=cfg, providers=None)
    gw = GatewayServer(rt)
    rt.submit(gw.start()).result()
    try:
        provider = rt.models.provider_for(name)
        prompts: list[list[int]] = []
        real = provider._fim_tokens

        def spy(*args: Any) -> list[int]:
            prompts.append(real(*args))
            return prompts[-1]

        provider._fim_tokens = spy  # type: ignore[method-assign]
        h = {"Authorization": f"Bearer {gw.tokens.get()}"}
        # Continue's raw prompt, in StarCoder's marks: read into prefix and suffix, sent in Qwen's
        raw = {
            "model": "flynn",
            "raw": True,
            "stream": False,
            "options": {"temperature": 0, "num_predict": 24},
        }
        raw["prompt"] = f"<fim_prefix>{CODE}<fim_suffix>{AFTER}<fim_middle>"
        r = httpx.post(gw.url + "/api/generate", json=raw, headers=h, timeout=120)
        assert r.status_code == 200, r.text
        assert provider._fim == QWEN  # found in the vocabulary at load
        assert provider._last_prompt is None  # the chat template was never used
        [tokens] = prompts
        assert [t for t in tokens if t in IDS] == list(IDS)  # each mark one token, in PSM order
        llm = provider._llm
        pre, suf = tokens.index(IDS[0]), tokens.index(IDS[1])
        assert llm.detokenize(tokens[pre + 1 : suf]).decode() == CODE
        assert llm.detokenize(tokens[suf + 1 : tokens.index(IDS[2])]).decode() == AFTER
        assert tokens[-1] == IDS[2]  # the model writes the middle next
        answer = r.json()["response"]
        assert not any(mark in answer for marks in FIM_FORMATS for mark in marks)
        assert not answer.startswith(CODE)
        # ollama's client with a suffix, and OpenAI's legacy completions with one, take the same path
        c = ollama.Client(host=gw.url, headers=h)
        c.generate(model="flynn", prompt=CODE, suffix=AFTER, options={"num_predict": 8})
        o = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.tokens.get(), max_retries=0)
        o.completions.create(model="flynn", prompt=CODE, suffix=AFTER, max_tokens=8)
        assert len(prompts) == 3 and all(p[-1] == IDS[2] for p in prompts)
        # a chat still goes through the chat template
        o.chat.completions.create(model="flynn", messages=[{"role": "user", "content": "Hi"}], max_tokens=8)
        assert provider._last_prompt is not None and len(prompts) == 3
    finally:
        rt.submit(gw.stop()).result()


def test_a_prompt_too_long_for_the_context_gives_way_far_from_the_cursor(make_runtime, fim_gguf) -> None:  # type: ignore[no-untyped-def]
    name = f"local:{fim_gguf}"
    cfg = Config.model_validate(
        {"models": {"router": {"tiers": {"default": name}}, "providers": {"local": {"contextLength": 512}}}}
    )
    rt = make_runtime(config=cfg, providers=None)
    provider = rt.models.provider_for(name)
    rt.submit(provider.load()).result()
    prefix = "".join(f"x{i} = {i}\n" for i in range(400)) + "total = "
    suffix = "\nprint(total)\n" + "".join(f"y{i} = {i}\n" for i in range(400))
    tokens = provider._fim_tokens(64, prefix, suffix)
    assert len(tokens) <= provider._n_ctx - 64 and [t for t in tokens if t in IDS] == list(IDS)
    text = provider._llm.detokenize(tokens).decode()
    assert "total = " in text and "print(total)" in text  # what is near the cursor stays
    assert "x0 = 0" not in text and "y399 = 399" not in text  # what is far from it went first
