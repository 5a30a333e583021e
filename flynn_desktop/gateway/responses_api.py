"""The OpenAI Responses dialect: POST /v1/responses (streaming with the Responses event types, or not),
GET and DELETE /v1/responses/{id}, so the `openai` SDK's `responses` and Codex run on Flynn's models.
`previous_response_id` continues the saved Flynn session the earlier response belongs to."""

from __future__ import annotations

import dataclasses
import json
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from flynn_desktop.core.interfaces import CancelToken
from flynn_desktop.core.messages import ChatMessage, GenerationParams, Role, Sampling, ToolCall, Usage
from flynn_desktop.errors import FlynnError, NotFoundError
from flynn_desktop.gateway.dialects import (
    TOOLS_DROPPED,
    AnswerStream,
    collect,
    error_body,
    error_response,
    function_tool,
    generation,
    note_request,
    output_of,
    started,
)
from flynn_desktop.gateway.schemas import BadRequest, ResponsesItem, ResponsesRequest, parse, read_json
from flynn_desktop.runtime import Runtime

KEPT = 1000  # responses remembered for GET and previous_response_id, while Flynn runs
SAVED_ID = re.compile(r"^resp_s([0-9a-f]{12})_[0-9a-f]{16}$")


@dataclass
class Kept:
    doc: dict[str, Any]
    session_id: str  # "" when gateway.history is off
    conversation: list[ChatMessage]  # what the model saw and said, for continuing without a session


class Responses:
    """The last KEPT responses, by id."""

    def __init__(self) -> None:
        self.kept: OrderedDict[str, Kept] = OrderedDict()

    def keep(self, rid: str, kept: Kept) -> None:
        self.kept[rid] = kept
        while len(self.kept) > KEPT:
            self.kept.popitem(last=False)

    def earlier(self, rid: str) -> Kept:
        """What previous_response_id continues: a kept response, or one from before a restart, whose
        id names its saved session."""
        found = self.kept.get(rid)
        if found is None and (m := SAVED_ID.match(rid)):
            return Kept({}, m.group(1), [])
        return self.get(rid)

    def get(self, rid: str) -> Kept:
        found = self.kept.get(rid)
        if found is None:
            raise NotFoundError(
                f"No response '{rid}' here.",
                f"Flynn keeps the last {KEPT} responses while it runs; send the whole input instead.",
            )
        return found


def to_messages(body: ResponsesRequest) -> list[ChatMessage]:
    """The request's instructions and input items as Flynn's messages."""
    out = [ChatMessage(Role.SYSTEM, body.instructions)] if body.instructions else []
    if isinstance(body.input, str):
        return [*out, ChatMessage(Role.USER, body.input)]
    for item in body.input:
        if item.type == "function_call":
            call = ToolCall(item.call_id or "", item.name or "", item.arguments or "{}")
            if out and out[-1].role == Role.ASSISTANT:  # calls made in one turn join its message
                prev = out.pop()
                out.append(ChatMessage(Role.ASSISTANT, prev.content, (*prev.tool_calls, call)))
            else:
                out.append(ChatMessage(Role.ASSISTANT, "", (call,)))
        elif item.type == "function_call_output":
            out.append(ChatMessage(Role.TOOL, ResponsesItem.text_of(item.output), tool_call_id=item.call_id))
        elif item.type == "message" or item.role:
            role = {"system": Role.SYSTEM, "developer": Role.SYSTEM, "assistant": Role.ASSISTANT}.get(
                item.role or "user", Role.USER
            )
            out.append(ChatMessage(role, ResponsesItem.text_of(item.content)))
    if not any(m.role in (Role.USER, Role.TOOL) for m in out):
        raise BadRequest("'input' needs a user message (or a function_call_output)")
    return out


def tools_of(body: ResponsesRequest) -> tuple[dict[str, Any], ...]:
    return tuple(
        function_tool(t.name, t.description, t.parameters)
        for t in body.tools or ()
        if t.type == "function" and t.name
    )


def tool_choice_of(choice: str | dict[str, Any] | None) -> Any:
    if isinstance(choice, dict) and choice.get("type") == "function":  # Responses names it flat
        return {"type": "function", "function": {"name": choice.get("name", "")}}
    return choice


def make_router(runtime: Runtime, client_of: Any) -> APIRouter:
    api = APIRouter()
    responses = Responses()

    @api.get("/v1/responses/{rid}", response_model=None)
    async def get(rid: str) -> Any:
        note_request("responses", "")
        try:
            return responses.get(rid).doc
        except FlynnError as e:
            return error_response(e)

    @api.delete("/v1/responses/{rid}", response_model=None)
    async def delete(rid: str) -> Any:
        note_request("responses", "")
        try:
            responses.get(rid)
        except FlynnError as e:
            return error_response(e)
        responses.kept.pop(rid, None)
        return {"id": rid, "object": "response.deleted", "deleted": True}

    @api.post("/v1/responses", response_model=None)
    async def create(request: Request) -> Any:
        try:
            body = parse(ResponsesRequest, await read_json(request))
            new = to_messages(body)
            earlier = responses.earlier(body.previous_response_id) if body.previous_response_id else None
            tools = tools_of(body)
            fmt = (body.text or {}).get("format") or {}
            output = output_of(fmt.get("type"), fmt.get("schema")) if isinstance(fmt, dict) else None
            params = generation(
                runtime.config.agent,
                body.max_output_tokens,
                body.temperature,
                (),
                output,
                Sampling(top_p=body.top_p),
            )
            params = dataclasses.replace(
                params, tools=tools, tool_choice=tool_choice_of(body.tool_choice) if tools else None
            )
        except FlynnError as e:
            return error_response(e)
        return await respond(runtime, responses, body, new, earlier, params, client_of(request))

    return api


async def respond(
    runtime: Runtime,
    responses: Responses,
    body: ResponsesRequest,
    new: list[ChatMessage],
    earlier: Kept | None,
    params: GenerationParams,
    client: str,
) -> Any:
    model = body.model or "flynn"
    info = note_request("responses", model, body)
    created = int(time.time())
    saved: dict[str, Any] = {"session": earlier.session_id if earlier else ""}

    def on_saved(session_id: str, _message_id: int | None) -> None:
        saved["session"] = session_id

    # Continuing: the saved session's history from the store; without one, the kept conversation.
    continuing = earlier is not None and bool(earlier.session_id)
    messages = new if continuing or earlier is None else [*earlier.conversation, *new]
    cancel = CancelToken()
    try:
        items = await started(
            runtime.chat.complete(
                messages,
                model,
                params,
                cancel,
                client,
                remember=True,
                session_id=earlier.session_id if continuing and earlier else None,
                on_saved=on_saved,
            )
        )
    except FlynnError as e:
        return error_response(e)
    # A saved exchange's id names its session, so previous_response_id continues it even after Flynn
    # restarted (then from the session as saved, as text).
    session = str(saved["session"])
    rid = f"resp_s{session}_{uuid.uuid4().hex[:16]}" if session else "resp_" + uuid.uuid4().hex
    extra = {TOOLS_DROPPED: "true"} if info.tools_dropped else {}
    msg_id = "msg_" + uuid.uuid4().hex[:24]

    def message_item(text: str, status: str = "completed") -> dict[str, Any]:
        return {
            "type": "message",
            "id": msg_id,
            "status": status,
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }

    def call_item(call: ToolCall) -> dict[str, Any]:
        return {
            "type": "function_call",
            "id": "fc_" + call.id,
            "call_id": call.id,
            "name": call.name,
            "arguments": call.arguments,
            "status": "completed",
        }

    def response(status: str, output: list[dict[str, Any]], usage: Usage | None) -> dict[str, Any]:
        return {
            "id": rid,
            "object": "response",
            "created_at": created,
            "status": status,
            "model": model,
            "output": output,
            "instructions": body.instructions,
            "previous_response_id": body.previous_response_id,
            "tools": [t.model_dump(exclude_none=True) for t in body.tools or ()],
            "tool_choice": body.tool_choice or "auto",
            "parallel_tool_calls": True,
            "temperature": params.temperature,
            "top_p": body.top_p if body.top_p is not None else 1.0,
            "max_output_tokens": body.max_output_tokens,
            "text": body.text or {"format": {"type": "text"}},
            "truncation": "disabled",
            "error": None,
            "incomplete_details": (
                {"reason": "max_output_tokens"}
                if usage is not None and usage.finish_reason == "length"
                else None
            ),
            "metadata": body.metadata or {},
            "usage": None
            if usage is None
            else {
                "input_tokens": usage.tokens_in,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": usage.tokens_out,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": usage.tokens_in + usage.tokens_out,
            },
        }

    def finish(text: str, calls: list[ToolCall], usage: Usage) -> dict[str, Any]:
        output = ([message_item(text)] if text or not calls else []) + [call_item(c) for c in calls]
        status = "incomplete" if usage.finish_reason == "length" else "completed"
        doc = response(status, output, usage)
        if body.store is not False:
            said = ChatMessage(Role.ASSISTANT, text, tuple(calls))
            responses.keep(rid, Kept(doc, str(saved["session"]), [*messages, said]))
        return doc

    if not body.stream:
        try:
            whole = await collect(items, params.format)
        except FlynnError as e:
            return error_response(e)
        return JSONResponse(finish(whole.text, whole.calls, whole.usage), headers=extra)

    async def events() -> AsyncIterator[str]:
        seq = 0

        def event(name: str, doc: dict[str, Any]) -> str:
            nonlocal seq
            seq += 1
            return f"event: {name}\ndata: {json.dumps({'type': name, 'sequence_number': seq - 1, **doc})}\n\n"

        begun = response("in_progress", [], None)
        head = event("response.created", {"response": begun}) + event(
            "response.in_progress", {"response": begun}
        )
        pieces: list[str] = []
        calls: list[ToolCall] = []
        usage = Usage(0, 0, False)
        text_open = False
        try:
            async for item in items:
                if isinstance(item, str):
                    if not text_open:
                        head += event(
                            "response.output_item.added",
                            {"output_index": 0, "item": message_item("", "in_progress")},
                        )
                        head += event(
                            "response.content_part.added",
                            {
                                "item_id": msg_id,
                                "output_index": 0,
                                "content_index": 0,
                                "part": {"type": "output_text", "text": "", "annotations": []},
                            },
                        )
                        text_open = True
                    pieces.append(item)
                    yield head + event(
                        "response.output_text.delta",
                        {"item_id": msg_id, "output_index": 0, "content_index": 0, "delta": item},
                    )
                    head = ""
                elif isinstance(item, ToolCall):
                    calls.append(item)
                elif isinstance(item, Usage):
                    usage = item
            text = "".join(pieces)
            tail, index = head, 0
            if text_open:
                tail += event(
                    "response.output_text.done",
                    {"item_id": msg_id, "output_index": 0, "content_index": 0, "text": text},
                )
                tail += event(
                    "response.content_part.done",
                    {
                        "item_id": msg_id,
                        "output_index": 0,
                        "content_index": 0,
                        "part": {"type": "output_text", "text": text, "annotations": []},
                    },
                )
                tail += event("response.output_item.done", {"output_index": 0, "item": message_item(text)})
                index = 1
            for call in calls:
                item_doc = call_item(call)
                tail += event(
                    "response.output_item.added",
                    {"output_index": index, "item": {**item_doc, "arguments": ""}},
                )
                tail += event(
                    "response.function_call_arguments.delta",
                    {"item_id": item_doc["id"], "output_index": index, "delta": call.arguments},
                )
                tail += event(
                    "response.function_call_arguments.done",
                    {"item_id": item_doc["id"], "output_index": index, "arguments": call.arguments},
                )
                tail += event("response.output_item.done", {"output_index": index, "item": item_doc})
                index += 1
            done = finish(text, calls, usage)
            yield tail + event(
                f"response.{'incomplete' if done['status'] == 'incomplete' else 'completed'}",
                {"response": done},
            )
        except FlynnError as e:
            failed = response("failed", [], None)
            failed["error"] = error_body(e)["error"]
            yield event("response.failed", {"response": failed})
        finally:
            cancel.cancel()
            await items.aclose()

    return AnswerStream(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", **extra}
    )
