"""Servers on 127.0.0.1 that speak the real wire formats of OpenAI chat completions (SSE), Anthropic
Messages (SSE) and Ollama /api/chat (NDJSON), with faults to inject: an HTTP error status with headers,
a request that never gets an answer, a stream that drops after some chunks, stalls after some (an answer
still in flight) or ends cleanly without its end mark, and a 200 whose body is not the wire format at
all."""

from __future__ import annotations

import asyncio
import json
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Fault:
    status: int = 0  # an HTTP error to answer with
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # never answer
    drop_after: int | None = None  # send this many text chunks, then cut the connection
    end_after: int | None = None  # send this many text chunks, then end the body cleanly, with no end mark
    stall_after: int | None = None  # send this many text chunks, then nothing more (an answer in flight)
    raw: str | None = None  # answer 200 with this body instead (an HTML page, broken JSON)
    raw_type: str = "text/html"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeServer:
    """One dialect ("openai", "anthropic" or "ollama"). `faults` are used one per request, in order."""

    def __init__(self, dialect: str, words: tuple[str, ...] = ("Hello", " from", " the", " cloud.")) -> None:
        self.dialect = dialect
        self.words = words
        self.faults: list[Fault] = []
        # OpenAI dialect: what the next chat requests answer, one each: a text, or tool calls
        # [(name, arguments)] streamed as OpenAI streams parallel calls. Empty: the usual answer.
        self.scripts: list[str | list[tuple[str, dict[str, Any]]]] = []
        self.requests: list[Request] = []
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def chat_requests(self) -> list[Request]:
        return [r for r in self.requests if r.method == "POST"]

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    def close(self) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, path, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    k, _, v = h.decode().partition(":")
                    headers[k.strip().lower()] = v.strip()
                raw = await reader.readexactly(int(headers.get("content-length", "0")))
                body = json.loads(raw) if raw else None
                self.requests.append(Request(method, path, headers, body))
                if not await self._respond(method, path, body, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            writer.close()

    async def _respond(self, method: str, path: str, body: Any, w: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection must close."""
        fault = self.faults.pop(0) if self.faults else Fault()
        if fault.hang:
            await asyncio.sleep(3600)
            return False
        if fault.status:
            await self._json(w, fault.status, fault.body or self._error(fault.status), fault.headers)
            return True
        if method == "GET":
            await self._json(w, 200, self._models())
            return True
        if fault.raw is not None:
            data = fault.raw.encode()
            w.write(
                f"HTTP/1.1 200 OK\r\nContent-Type: {fault.raw_type}\r\nContent-Length: {len(data)}\r\n\r\n".encode()
                + data
            )
            await w.drain()
            return True
        model = (body or {}).get("model", "m")
        if path.endswith(("/embeddings", "/api/embed")):
            await self._json(w, 200, self._embeddings(model, (body or {}).get("input", [])))
            return True
        ctype = "application/x-ndjson" if self.dialect == "ollama" else "text/event-stream"
        w.write(f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        tools = (body or {}).get("tools")
        if self.scripts and self.dialect in ("openai", "anthropic"):
            script = self.scripts.pop(0)
            if isinstance(script, list):
                pieces = (
                    self._calls(model, script) if self.dialect == "openai" else self._tool_uses(model, script)
                )
            else:
                pieces = self._stream(model, (script,))
        elif tools and not _after_tool_result(body):  # like a model: a call, then text on its result
            pieces = self._tool_stream(model, tools[0]["function"]["name"])
        else:
            pieces = self._stream(model)
        for i, piece in enumerate(pieces):
            if fault.drop_after is not None and i >= fault.drop_after + self._preamble():
                await w.drain()
                w.transport.abort()  # no final chunk: the client sees a broken body
                return False
            if fault.end_after is not None and i >= fault.end_after + self._preamble():
                break  # a proper end of the body, but the answer's own end mark never came
            if fault.stall_after is not None and i >= fault.stall_after + self._preamble():
                await asyncio.sleep(3600)  # still answering, as far as the client can tell
                return False
            data = piece.encode()
            w.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await w.drain()
        w.write(b"0\r\n\r\n")
        await w.drain()
        return True

    async def _json(
        self, w: asyncio.StreamWriter, status: int, doc: Any, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(doc).encode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        w.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n{extra}\r\n".encode()
            + data
        )
        await w.drain()

    # dialects -----------------------------------------------------------------------------------
    def _embeddings(self, model: str, texts: Any) -> Any:
        """Bag-of-words vectors (64 dimensions, L2-normalised): texts sharing words are similar."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        vectors = []
        for t in texts:
            v = [0.0] * 64
            for word in t.lower().split():
                v[zlib.crc32(word.strip(".,?!").encode()) % 64] += 1.0
            norm = sum(x * x for x in v) ** 0.5 or 1.0
            vectors.append([x / norm for x in v])
        if self.dialect == "ollama":
            return {
                "model": model,
                "embeddings": vectors,
                "total_duration": 1000,
                "prompt_eval_count": len(texts),
            }
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        return {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        }

    def _preamble(self) -> int:
        return 2 if self.dialect == "anthropic" else 0  # message_start, content_block_start

    def _models(self) -> Any:
        if self.dialect == "ollama":
            return {
                "models": [{"name": "llama3", "model": "llama3", "size": 1, "digest": "x", "details": {}}]
            }
        if self.dialect == "anthropic":
            return {
                "data": [
                    {
                        "id": "claude-test",
                        "type": "model",
                        "display_name": "t",
                        "created_at": "2025-01-01T00:00:00Z",
                    }
                ],
                "has_more": False,
                "first_id": "claude-test",
                "last_id": "claude-test",
            }
        return {
            "object": "list",
            "data": [{"id": "gpt-test", "object": "model", "created": 0, "owned_by": "me"}],
        }

    def _error(self, status: int) -> Any:
        kinds = {401: "authentication_error", 429: "rate_limit_error", 529: "overloaded_error"}
        if self.dialect == "anthropic":
            return {"type": "error", "error": {"type": kinds.get(status, "api_error"), "message": "fault"}}
        if self.dialect == "ollama":
            return {"error": "fault"}
        code = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status)
        return {"error": {"message": "fault", "type": "error", "code": code}}

    def _tool_stream(self, model: str, tool: str) -> Iterator[str]:
        """The model calls the first tool offered, with {"city": "Paris"}, as each dialect streams it."""
        if self.dialect == "ollama":
            call = {"function": {"name": tool, "arguments": {"city": "Paris"}}}
            yield (
                json.dumps(
                    {
                        "model": model,
                        "message": {"role": "assistant", "content": "", "tool_calls": [call]},
                        "done": False,
                    }
                )
                + "\n"
            )
            yield (
                json.dumps(
                    {
                        "model": model,
                        "message": {"role": "assistant", "content": ""},
                        "done": True,
                        "done_reason": "stop",
                        "prompt_eval_count": 20,
                        "eval_count": 9,
                    }
                )
                + "\n"
            )
            return

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            doc = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(doc)}\n\n"

        yield chunk(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_abc",
                        "type": "function",
                        "function": {"name": tool, "arguments": ""},
                    }
                ],
            }
        )
        for part in ('{"city": ', '"Paris"}'):
            yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
        yield chunk({}, "tool_calls")
        yield "data: [DONE]\n\n"

    def _calls(self, model: str, calls: list[tuple[str, dict[str, Any]]]) -> Iterator[str]:
        """Tool calls as OpenAI streams them: each call's id and name, then its arguments in two parts."""

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            doc = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": model}
            doc["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
            return f"data: {json.dumps(doc)}\n\n"

        yield chunk({"role": "assistant", "content": None})
        for i, (name, args) in enumerate(calls):
            head = {
                "index": i,
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
            yield chunk({"tool_calls": [head]})
            text = json.dumps(args)
            for part in (text[: len(text) // 2], text[len(text) // 2 :]):
                yield chunk({"tool_calls": [{"index": i, "function": {"arguments": part}}]})
        yield chunk({}, "tool_calls")
        yield "data: [DONE]\n\n"

    def _tool_uses(self, model: str, calls: list[tuple[str, dict[str, Any]]]) -> Iterator[str]:
        """Tool calls as Anthropic's Messages API streams them: a tool_use block each, its input as
        input_json_delta parts, then stop_reason tool_use."""

        def ev(name: str, doc: dict[str, Any]) -> str:
            return f"event: {name}\ndata: {json.dumps({'type': name, **doc})}\n\n"

        message = {"id": "msg_t", "type": "message", "role": "assistant", "content": [], "model": model}
        message.update(stop_reason=None, stop_sequence=None, usage={"input_tokens": 30, "output_tokens": 1})
        yield ev("message_start", {"message": message})
        for i, (name, args) in enumerate(calls):
            block = {"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": {}}
            yield ev("content_block_start", {"index": i, "content_block": block})
            text = json.dumps(args)
            for part in (text[: len(text) // 2], text[len(text) // 2 :]):
                delta = {"type": "input_json_delta", "partial_json": part}
                yield ev("content_block_delta", {"index": i, "delta": delta})
            yield ev("content_block_stop", {"index": i})
        end = {"delta": {"stop_reason": "tool_use", "stop_sequence": None}, "usage": {"output_tokens": 9}}
        yield ev("message_delta", end)
        yield ev("message_stop", {})

    def _stream(self, model: str, words: tuple[str, ...] | None = None) -> Iterator[str]:
        if self.dialect == "openai":
            for word in words or self.words:
                chunk = {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}],
                }
                yield f"data: {json.dumps(chunk)}\n\n"
            end = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
            yield f"data: {json.dumps(end)}\n\n"
            usage = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [],
                "usage": {
                    "prompt_tokens": 11,
                    "completion_tokens": len(self.words),
                    "total_tokens": 11 + len(self.words),
                },
            }
            yield f"data: {json.dumps(usage)}\n\n"
            yield "data: [DONE]\n\n"
        elif self.dialect == "anthropic":

            def ev(name: str, doc: Any) -> str:
                return f"event: {name}\ndata: {json.dumps(doc)}\n\n"

            yield ev(
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_1",
                        "type": "message",
                        "role": "assistant",
                        "content": [],
                        "model": model,
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": 12, "output_tokens": 1},
                    },
                },
            )
            yield ev(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            )
            for word in words or self.words:
                yield ev(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": word},
                    },
                )
            yield ev("content_block_stop", {"type": "content_block_stop", "index": 0})
            yield ev(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": len(self.words)},
                },
            )
            yield ev("message_stop", {"type": "message_stop"})
        else:
            for word in self.words:
                yield (
                    json.dumps(
                        {
                            "model": model,
                            "created_at": "2026-01-01T00:00:00Z",
                            "message": {"role": "assistant", "content": word},
                            "done": False,
                        }
                    )
                    + "\n"
                )
            yield (
                json.dumps(
                    {
                        "model": model,
                        "created_at": "2026-01-01T00:00:00Z",
                        "message": {"role": "assistant", "content": ""},
                        "done": True,
                        "done_reason": "stop",
                        "total_duration": 1,
                        "load_duration": 1,
                        "prompt_eval_count": 13,
                        "prompt_eval_duration": 1,
                        "eval_count": len(self.words),
                        "eval_duration": 1,
                    }
                )
                + "\n"
            )


def _after_tool_result(body: dict[str, Any]) -> bool:
    """The request's last message is a tool's result (OpenAI and Ollama role "tool", Anthropic's
    tool_result block)."""
    messages = body.get("messages") or [{}]
    last = messages[-1]
    content = last.get("content")
    blocks = content if isinstance(content, list) else []
    return last.get("role") == "tool" or any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in blocks
    )
