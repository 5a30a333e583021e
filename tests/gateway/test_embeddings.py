"""/v1/embeddings and /api/embed, from the local ONNX embedder, through the official clients."""

from __future__ import annotations

import math

import httpx
import ollama
import openai

from tests.gateway.conftest import Live


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_openai_embeddings(live: Live) -> None:
    c = openai.OpenAI(base_url=live.url + "/v1", api_key=live.token, max_retries=0)
    one = c.embeddings.create(model="flynn", input="The cat sat on the mat.")  # the SDK asks for base64
    assert len(one.data) == 1 and len(one.data[0].embedding) == 384
    assert math.isclose(math.sqrt(sum(x * x for x in one.data[0].embedding)), 1.0, rel_tol=1e-4)
    many = c.embeddings.create(
        model="flynn",
        input=["A kitten sits on a rug.", "Stock markets fell sharply today."],
        encoding_format="float",
    )
    assert [d.index for d in many.data] == [0, 1] and many.usage.prompt_tokens > 5
    near, far = (
        cosine(one.data[0].embedding, many.data[0].embedding),
        cosine(one.data[0].embedding, many.data[1].embedding),
    )
    assert near > 0.5 > far


def test_ollama_embed(live: Live) -> None:
    c = ollama.Client(host=live.url, headers={"Authorization": f"Bearer {live.token}"})
    r = c.embed(model="flynn", input=["hello", "world"])
    assert len(r.embeddings) == 2 and len(r.embeddings[0]) == 384 and (r.prompt_eval_count or 0) > 0


def test_bad_inputs_are_400(live: Live) -> None:
    h = {"Authorization": f"Bearer {live.token}"}
    for body in ({"input": []}, {"input": [1, 2]}, {"input": None}, {}):
        assert httpx.post(live.url + "/v1/embeddings", json=body, headers=h).status_code == 400
        assert httpx.post(live.url + "/api/embed", json=body, headers=h).status_code == 400
