"""Structured output through every dialect, with the real bundled model: a llama.cpp grammar built
from the JSON schema makes the answer parse, and jsonschema checks it follows the schema."""

from __future__ import annotations

import json

import anthropic
import jsonschema
import ollama
import openai
import pytest

from tests.gateway.conftest import Live

pytestmark = pytest.mark.model
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
ASK = "Alice is 30 years old. Give her name and age."


def oai(live: Live) -> openai.OpenAI:
    return openai.OpenAI(base_url=live.url + "/v1", api_key=live.token, max_retries=0)


def test_openai_response_format(live: Live) -> None:
    c = oai(live)
    r = c.chat.completions.create(
        model="flynn",
        messages=[{"role": "user", "content": ASK}],
        max_tokens=96,
        temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}},
    )
    jsonschema.validate(json.loads(r.choices[0].message.content or ""), PERSON)
    r = c.chat.completions.create(
        model="flynn",
        messages=[{"role": "user", "content": "Give a JSON object with a key 'city' set to Paris."}],
        max_tokens=96,
        temperature=0,
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(r.choices[0].message.content or ""), dict)


def test_ollama_format(live: Live) -> None:
    c = ollama.Client(host=live.url, headers={"Authorization": f"Bearer {live.token}"})
    r = c.chat(
        model="flynn", messages=[{"role": "user", "content": ASK}], format=PERSON, options={"num_predict": 96}
    )
    jsonschema.validate(json.loads(r.message.content or ""), PERSON)
    streamed = "".join(
        p.response
        for p in c.generate(
            model="flynn", prompt=ASK, format=PERSON, stream=True, options={"num_predict": 96}
        )
    )
    jsonschema.validate(json.loads(streamed), PERSON)


def test_responses_text_format(live: Live) -> None:
    r = oai(live).responses.create(
        model="flynn",
        input=ASK,
        max_output_tokens=96,
        text={"format": {"type": "json_schema", "name": "person", "schema": PERSON}},
    )
    jsonschema.validate(json.loads(r.output_text), PERSON)


def test_anthropic_forced_tool(live: Live) -> None:
    c = anthropic.Anthropic(base_url=live.url, api_key=live.token, max_retries=0)
    tool = {"name": "record_person", "description": "Record a person", "input_schema": PERSON}
    m = c.messages.create(
        model="flynn",
        max_tokens=96,
        messages=[{"role": "user", "content": ASK}],
        tools=[tool],  # type: ignore[list-item]
        tool_choice={"type": "tool", "name": "record_person"},
    )
    assert m.stop_reason == "tool_use"
    (block,) = m.content
    assert block.type == "tool_use" and block.name == "record_person"
    jsonschema.validate(block.input, PERSON)
