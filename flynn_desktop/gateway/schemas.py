"""The request bodies every HTTP dialect takes, as pydantic models: one place that says what a field
may hold. Unknown fields are ignored (clients send many we don't use); a known field of the wrong
type or out of range is a 400 that names it.

Longer than 400 lines on purpose: the four dialects' bodies share their parts (messages, tools, stop,
sampling, the size and JSON checks), and one file keeps every field's bounds side by side."""

from __future__ import annotations

import json
import re
from typing import Any, Literal, TypeVar

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from flynn_desktop.core.messages import Sampling
from flynn_desktop.errors import InvalidParamsError

M = TypeVar("M", bound="Body")
MAX_TOKENS = 1 << 20
WHOLE_CONTEXT = 8192  # Ollama's repeat_last_n -1 without a num_ctx
MAX_BODY = 8 << 20  # bytes


class BadRequest(InvalidParamsError):
    """A request body a dialect can't take: a 400 in that dialect's error shape."""


class Body(BaseModel):
    # strict: 1 is not a model name and "true" is not a boolean; floats take integers
    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True)


class BodyTooLarge(BadRequest):
    """413: more than MAX_BODY bytes."""


async def read_json(request: Request) -> dict[str, Any]:
    """The body as a JSON object, read at most MAX_BODY bytes far. Whatever it holds (too much, not
    JSON, nested past reason, text that is not valid Unicode) is a 4xx, never a 500."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise BodyTooLarge(_too_large(int(declared)))
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise BodyTooLarge(_too_large(len(raw)))
    body = load_json(bytes(raw), "body")
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def load_json(raw: bytes | str, what: str) -> Any:
    """JSON text (a body, a WebSocket frame) as a value, or a BadRequest saying what is wrong with it:
    not JSON, nested too deeply, or text that is not valid Unicode (a lone surrogate can't be saved)."""
    try:
        value = json.loads(raw)
        data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
        if _SURROGATE_ESCAPE.search(data):  # only an escape can hold one: check the value then
            json.dumps(value, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise BadRequest(f"the {what}'s JSON is nested too deeply") from None
    except UnicodeError:
        raise BadRequest(f"the {what} holds text that is not valid Unicode (a lone surrogate?)") from None
    except ValueError:
        raise BadRequest(f"the {what} must be JSON") from None
    return value


def _too_large(n: int) -> str:
    return (
        f"the body is {n / 1e6:.1f} MB; the gateway takes at most {MAX_BODY / 1e6:.0f} MB "
        "(about two million tokens of text, more than any model's context)"
    )


def parse(model: type[M], body: dict[str, Any]) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as e:
        problems = []
        for err in e.errors()[:3]:
            where = ".".join(str(x) for x in err["loc"]) or "body"
            problems.append(f"'{where}': {err['msg']}")
        raise BadRequest("; ".join(problems)) from None


# shared pieces ----------------------------------------------------------------------------------------
class Function(Body):
    name: str
    arguments: str | dict[str, Any] = "{}"


class ToolCallIn(Body):
    id: str | None = None
    function: Function


class FunctionDef(Body):
    model_config = ConfigDict(strict=True, extra="allow")
    name: str


class Tool(Body):
    model_config = ConfigDict(strict=True, extra="allow")
    type: str = "function"
    function: FunctionDef


class TextPart(Body):
    model_config = ConfigDict(strict=True, extra="allow")
    type: str = "text"
    text: str = ""


class Message(Body):
    role: str
    content: str | list[TextPart | dict[str, Any]] | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None
    tool_name: str | None = None  # Ollama names the tool a result answers
    name: str | None = None

    @property
    def text(self) -> str:
        """OpenAI content is a string or a list of parts; only text parts are kept."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart) and p.type == "text")


Stop = str | list[str] | None


def seed_of(seed: int | None) -> int | None:
    """A client's seed as llama.cpp takes it (32 bits); a negative one (Ollama's -1) asks for a random one."""
    return None if seed is None or seed < 0 else seed % (1 << 32)


def stop_tuple(v: Stop) -> tuple[str, ...]:
    return () if v is None else (v,) if isinstance(v, str) else tuple(v)


# OpenAI -----------------------------------------------------------------------------------------------
class StreamOptions(Body):
    include_usage: bool = False


class OpenAIGeneration(Body):
    model: str | None = "flynn"
    stream: bool | None = False
    max_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS)
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    seed: int | None = Field(None, ge=-(1 << 63), le=(1 << 63) - 1)
    stop: Stop = None
    stream_options: StreamOptions | None = None

    @property
    def stops(self) -> tuple[str, ...]:
        return stop_tuple(self.stop)

    @property
    def sampling(self) -> Sampling:
        return Sampling(
            top_p=self.top_p,
            frequency_penalty=self.frequency_penalty,
            presence_penalty=self.presence_penalty,
            seed=seed_of(self.seed),
        )

    @property
    def limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class ResponseFormat(Body):
    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: dict[str, Any] | None = None

    @property
    def schema_(self) -> Any:
        return (self.json_schema or {}).get("schema")


class ChatCompletionRequest(OpenAIGeneration):
    messages: list[Message] = Field(min_length=1)
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: ResponseFormat | None = None


class CompletionRequest(OpenAIGeneration):
    prompt: str | list[str]
    suffix: str | None = None

    @property
    def text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else "".join(self.prompt)


class EmbedInput(Body):
    """What OpenAI's /v1/embeddings and Ollama's /api/embed take: a text, or a non-empty list."""

    model: str | None = None
    input: str | list[str]

    @field_validator("input")
    @classmethod
    def _not_empty(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, list) and not v:
            raise ValueError("a string or a non-empty list of strings")
        return v

    @property
    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


class EmbeddingRequest(EmbedInput):
    encoding_format: Literal["float", "base64"] | None = None


# Ollama -----------------------------------------------------------------------------------------------
class Options(Body):
    model_config = ConfigDict(strict=True, extra="ignore")
    num_predict: int | None = Field(None, ge=-2, le=MAX_TOKENS)
    num_ctx: int | None = Field(None, ge=64, le=1 << 22)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=0, le=1 << 20)
    min_p: float | None = Field(None, ge=0, le=1)
    repeat_penalty: float | None = Field(None, ge=0, le=10)
    repeat_last_n: int | None = Field(None, ge=-1, le=1 << 22)  # -1: the whole context
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    seed: int | None = Field(None, ge=-(1 << 63), le=(1 << 63) - 1)
    stop: Stop = None

    @property
    def stops(self) -> tuple[str, ...]:
        return stop_tuple(self.stop)

    @property
    def sampling(self) -> Sampling:
        last_n = self.repeat_last_n
        if last_n == -1:  # Ollama's "the whole context"
            last_n = self.num_ctx or WHOLE_CONTEXT
        return Sampling(
            top_p=self.top_p,
            top_k=self.top_k,
            min_p=self.min_p,
            repeat_penalty=self.repeat_penalty,
            repeat_last_n=last_n,
            presence_penalty=self.presence_penalty,
            frequency_penalty=self.frequency_penalty,
            seed=seed_of(self.seed),
        )


class OllamaGeneration(Body):
    model: str | None = "flynn"
    stream: bool | None = True
    options: Options | None = None
    keep_alive: float | str | None = None
    format: str | dict[str, Any] | None = None  # "json", or a JSON schema

    @property
    def opts(self) -> Options:
        return self.options or Options()

    @property
    def limit(self) -> int | None:
        n = self.opts.num_predict
        return None if n is None or n < 1 else n


class OllamaChatRequest(OllamaGeneration):
    messages: list[Message] = Field(min_length=1)
    tools: list[Tool] | None = None


class GenerateRequest(OllamaGeneration):
    prompt: str = ""
    suffix: str | None = None
    system: str | None = None
    raw: bool = False  # the prompt is the model's own input: no template (FIM marks are read from it)


class OllamaEmbedRequest(EmbedInput):
    pass


class OllamaLegacyEmbedRequest(Body):
    model: str | None = None
    prompt: str = ""


class ShowRequest(Body):
    model: str | None = None
    name: str | None = None


class PullRequest(ShowRequest):
    stream: bool | None = None
    insecure: bool | None = None


# Anthropic Messages ---------------------------------------------------------------------------------
class AnthropicBlock(Body):
    """A content block: text, tool_use (the assistant's call), tool_result (the caller's answer);
    others (images, thinking) are passed over."""

    model_config = ConfigDict(strict=True, extra="allow")
    type: str
    text: str | None = None
    id: str | None = None
    name: str | None = None
    input: dict[str, Any] | None = None
    tool_use_id: str | None = None
    content: str | list[dict[str, Any]] | None = None
    is_error: bool | None = None

    @property
    def result_text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(str(b.get("text", "")) for b in self.content or [] if b.get("type") == "text")


class AnthropicMessage(Body):
    role: Literal["user", "assistant"]
    content: str | list[AnthropicBlock]


class AnthropicTool(Body):
    model_config = ConfigDict(strict=True, extra="allow")
    name: str
    description: str | None = None
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class AnthropicToolChoice(Body):
    type: Literal["auto", "any", "tool", "none"] = "auto"
    name: str | None = None


class AnthropicPrompt(Body):
    """What a Messages request and a token count share."""

    model: str = "flynn"
    messages: list[AnthropicMessage] = Field(min_length=1)
    system: str | list[AnthropicBlock] | None = None
    tools: list[AnthropicTool] | None = None

    @property
    def system_text(self) -> str:
        if self.system is None or isinstance(self.system, str):
            return self.system or ""
        return "\n\n".join(b.text or "" for b in self.system if b.type == "text")


class AnthropicRequest(AnthropicPrompt):
    max_tokens: int = Field(ge=1, le=MAX_TOKENS)
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(None, ge=0, le=1)
    top_p: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=0)
    stream: bool | None = False
    tool_choice: AnthropicToolChoice | None = None


# OpenAI Responses -----------------------------------------------------------------------------------
class ResponsesItem(Body):
    """An input item: a message (role and content), a function call the model made, or its output."""

    model_config = ConfigDict(strict=True, extra="allow")
    type: str = "message"
    role: str | None = None
    content: str | list[dict[str, Any]] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | list[dict[str, Any]] | None = None

    @staticmethod
    def text_of(value: str | list[dict[str, Any]] | None) -> str:
        if value is None or isinstance(value, str):
            return value or ""
        return "".join(
            str(p.get("text", "")) for p in value if p.get("type") in ("input_text", "output_text", "text")
        )


class ResponsesTool(Body):
    model_config = ConfigDict(strict=True, extra="allow")
    type: str = "function"
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ResponsesRequest(Body):
    model: str | None = "flynn"
    input: str | list[ResponsesItem]
    instructions: str | None = None
    previous_response_id: str | None = Field(None, max_length=200)
    tools: list[ResponsesTool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    max_output_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    stream: bool | None = False
    store: bool | None = True
    text: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
