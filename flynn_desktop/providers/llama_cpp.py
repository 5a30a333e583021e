"""The local tier: llama.cpp in-process, through llama-cpp-python.

One model in memory serves everything. Its slots (llama_slots.py) answer several requests at once in
shared batches on the model's own thread, each conversation keeping its KV cache, so the asyncio loop
never blocks on a token and a plugin's autocomplete never costs the chat its cache. The prompt is
rendered with the GGUF's own chat template and tokenized by the model's own tokenizer, so token counts
are exact. A template that takes tools gets them, and the model's calls are read back from its text
(tool_text.py).

Longer than 400 lines on purpose: loading (its checks, the formatter), the prompt, and generation (chat,
fill-in-the-middle, JSON grammars, tool calls) all work on the one model.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import os
import queue
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from flynn_desktop.core.events import Progress
from flynn_desktop.core.fim import FIM_FORMATS, Marks, fim_prompt
from flynn_desktop.core.interfaces import CancelToken, ProgressCallback, ProviderBase
from flynn_desktop.core.messages import ChatMessage, GenerationParams, Sampling, ToolCall, Usage
from flynn_desktop.core.tokens import estimate_prompt_tokens
from flynn_desktop.errors import (
    ContextOverflowError,
    FlynnError,
    ModelError,
    ProviderBadRequestError,
    ProviderError,
)
from flynn_desktop.providers.catalog import meminfo
from flynn_desktop.providers.llama_backends import load_cpu_kernels
from flynn_desktop.providers.llama_slots import Job, SlotEngine
from flynn_desktop.providers.model_files import ModelFiles, bundled_manifest
from flynn_desktop.providers.tool_text import ToolText, tool_call_gbnf, tool_call_schema

log = logging.getLogger(__name__)

USER_GGUF_CONTEXT = 4096
PARALLEL = 4  # models.providers.local.parallel's default
PROMPTS_KEPT = 16  # rendered prompts kept, one per request in flight or so
STATE_CACHE_MB = 512  # models.providers.local.stateCacheMb's default
_DONE = object()
_backend = threading.Lock()
_backend_ready = False


def fim_marks(tokenize: Callable[[str], list[int]]) -> Marks | None:
    """The fill-in-the-middle marks this model's vocabulary has as tokens of their own (each one
    token, not spelled out in pieces), or None."""
    for marks in FIM_FORMATS:
        if all(len(tokenize(mark)) == 1 for mark in marks):
            return marks
    return None


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class LlamaCppProvider(ProviderBase):
    provider = "local"
    local = True
    can_unload = True

    def __init__(
        self,
        model: str,
        files: ModelFiles,
        gguf_path: Path | None = None,
        context_length: int | None = None,
        threads: int | None = None,
        chat_format: str | None = None,
        sampling: Sampling | None = None,
        parallel: int = PARALLEL,
        state_cache_mb: int = STATE_CACHE_MB,
    ) -> None:
        """`sampling`: a user's GGUF's recommended values (a catalog model's); a bundled model's come
        from its manifest. `parallel`: conversations answered at once (slots), besides autocomplete's
        own; `state_cache_mb`: RAM for conversations saved from their slots (4× that on disk)."""
        self.model = model
        self._files = files
        self.parallel = self._parallel = parallel
        self.kv_bytes_per_slot = 0  # known once the model's metadata is read
        self._state_cache_mb = state_cache_mb
        self.engine: SlotEngine | None = None
        self._gguf_path = gguf_path
        self._threads = threads or os.cpu_count() or 2
        self._chat_format = chat_format
        manifest = None if gguf_path else bundled_manifest(model)  # an unknown name fails here, early
        self._n_ctx = context_length or (manifest.context_length if manifest else USER_GGUF_CONTEXT)
        self._n_ctx_chosen = context_length is not None  # by the user: checked against the model
        self._sampling = (
            manifest.sampling if manifest else (sampling or Sampling())
        )  # the model's recommended values
        self._llm: Any = None  # llama-cpp-python's LlamaModel: the weights and the tokenizer
        self._meta: dict[str, str] = {}
        self._formatter: Any = None
        self._prompts: collections.OrderedDict[Any, tuple[list[int], Any]] = collections.OrderedDict()
        self._prompt_lock = threading.Lock()
        self._grammars: dict[str, Any] = {}
        self._takes_tools: bool | None = None  # the GGUF's chat template takes tools (known once read)
        self._fim: Marks | None = None  # the model's own fill-in-the-middle tokens, found at load
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")  # load, tokenize
        # one thread per request in flight: it renders the prompt, then waits on the slots' results
        self._requests = ThreadPoolExecutor(max_workers=64, thread_name_prefix="llama-request")
        # called before each load, to unload other local models first (models.providers.local.maxLoaded)
        self.before_load: Callable[[LlamaCppProvider], Awaitable[None]] | None = None
        self._load_lock = asyncio.Lock()
        self.path: Path | None = None

    @property
    def context_length(self) -> int:
        return self._n_ctx

    @property
    def supports_tools(self) -> bool:
        """A GGUF whose chat template takes tools (it renders a `tools` list), unless a named chatFormat
        replaces the template. Known from the loaded model, or from a user's GGUF's metadata alone."""
        if self._takes_tools is None and not self._chat_format:
            template = None
            if self._llm is not None:
                template = self._meta.get("tokenizer.chat_template") or ""
            elif self._gguf_path:
                template = gguf_metadata(Path(self._gguf_path).expanduser()).get(
                    "tokenizer.chat_template", ""
                )
            if template is not None:  # a bundled model not loaded yet: asked again after its load
                self._takes_tools = "tools" in template
        return bool(self._takes_tools) and not self._chat_format

    @supports_tools.setter
    def supports_tools(self, value: bool) -> None:  # the Provider protocol's attribute is settable
        self._takes_tools = value

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    async def load(self, progress: ProgressCallback | None = None) -> None:
        if self._llm is not None:
            return
        async with self._load_lock:
            if self._llm is not None:
                return
            if self.before_load is not None:
                await self.before_load(self)
            loop = asyncio.get_running_loop()

            def report(p: Progress) -> None:
                if progress:
                    loop.call_soon_threadsafe(progress, p)

            await loop.run_in_executor(self._executor, self._load_blocking, report)

    def _load_blocking(self, report: ProgressCallback) -> None:
        resolved = self._files.resolve(self.model, self._gguf_path, report)
        self.path = resolved.path
        report(Progress("model.load", 0.0, resolved.path.name))
        try:
            import llama_cpp
            from llama_cpp import llama_chat_format
            from llama_cpp._internals import LlamaModel
        except (ImportError, OSError) as e:
            raise ModelError(
                f"llama.cpp can't be loaded here: {e}",
                "Reinstall Flynn."
                if getattr(sys, "frozen", False)
                else "Run the README's install command; it builds llama-cpp-python for this CPU.",
            ) from e
        init_llama()
        self._check_context(resolved.path)
        try:
            llm = LlamaModel(
                path_model=str(resolved.path), params=llama_cpp.llama_model_default_params(), verbose=False
            )
        except Exception as e:  # llama-cpp-python raises ValueError/RuntimeError with llama.cpp's reason
            raise ModelError(
                f"The model {resolved.path} failed to load: {e}",
                "Check that the file is a GGUF model this llama.cpp supports, "
                "and that there is enough memory.",
            ) from e
        try:
            self._meta = llm.metadata()
            self._formatter = self._make_formatter(llm, llama_chat_format)
            self._fim = fim_marks(
                lambda text: llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
            )
            state_dir = self._files.cache_dir / "llama-states"
            for stale in state_dir.glob("*.kv"):  # a saved conversation is only good in its own context
                stale.unlink(missing_ok=True)
            self.engine = SlotEngine(
                llm.model,
                llm.vocab,
                n_ctx=self._n_ctx,
                parallel=self.parallel,
                threads=self._threads,
                state_cache_bytes=self._state_cache_mb * 2**20,
                state_folder=state_dir,
            )
        except BaseException:
            llm.close()
            raise
        self._llm = llm
        report(Progress("model.load", 1.0, resolved.path.name))
        log.info(
            "loaded %s (%d slots + 1 for autocomplete, n_ctx=%d each, threads=%d)",
            resolved.path,
            self.parallel,
            self._n_ctx,
            self._threads,
        )

    def _check_context(self, path: Path) -> None:
        """A contextLength the model was not trained for is refused, and the slots are fitted to this
        computer's free memory (fewer conversations at once rather than a failed load), before
        llama.cpp tries to allocate them. Only the model's metadata is read (its vocabulary, no
        weights, no context): about 0.1 s."""
        self.parallel = self._parallel
        md = gguf_metadata(path)
        if not md:  # the full load says what is wrong with the file
            return
        trained = _arch_number(md, "context_length")
        if self._n_ctx_chosen and trained and self._n_ctx > trained:
            raise ModelError(
                f"models.providers.local.contextLength is {self._n_ctx}, but {path.name} was trained for "
                f"{trained} tokens.",
                f"Set contextLength to {trained} or less (or leave it unset).",
            )
        per_slot, fits, free = plan_slots(md, path, self._n_ctx, self.parallel)
        self.kv_bytes_per_slot = per_slot
        if fits < 1:
            raise ModelError(
                f"A {self._n_ctx}-token context for {path.name} needs {2 * per_slot / 2**30:.1f} GB of "
                f"memory (a chat slot and an autocomplete slot); this computer has {free / 2**30:.1f} GB "
                "free.",
                "Lower models.providers.local.contextLength (or leave it unset).",
            )
        if fits < self.parallel:
            log.warning(
                "%d conversations at once (models.providers.local.parallel) need %.1f GB for %s; %.1f GB "
                "is free, so %d run at once",
                self.parallel,
                (self.parallel + 1) * per_slot / 2**30,
                path.name,
                free / 2**30,
                fits,
            )
            self.parallel = fits

    def _make_formatter(self, llm: Any, llama_chat_format: Any) -> Any:
        template = None if self._chat_format else self._meta.get("tokenizer.chat_template")
        if template:
            eos = llm.detokenize([llm.token_eos()], special=True).decode("utf-8", "ignore")
            bos = llm.detokenize([llm.token_bos()], special=True).decode("utf-8", "ignore")
            return llama_chat_format.Jinja2ChatFormatter(
                template=template, eos_token=eos, bos_token=bos, stop_token_ids=[llm.token_eos()]
            )
        name = self._chat_format or "chatml"
        fn = getattr(llama_chat_format, f"format_{name.replace('-', '_')}", None)
        if fn is None:
            raise ModelError(
                f"Unknown chat format '{name}'.",
                "Set models.providers.local.chatFormat to a llama.cpp chat format such as chatml or llama-3.",
            )
        return fn

    # prompt ------------------------------------------------------------------------------------------
    def _tokens(
        self, messages: Sequence[ChatMessage], tools: Sequence[dict[str, Any]] = ()
    ) -> tuple[list[int], Any]:
        """The prompt's tokens (with the tools, for a template that takes them). The pipeline counts
        the prompt it sends, then sends it: the last few are kept, so the chat template is rendered and
        tokenized once per answer, not twice, even with other requests in between. (Any thread.)"""
        key = (tuple(messages), json.dumps(list(tools), sort_keys=True))
        with self._prompt_lock:
            hit = self._prompts.get(key)
            if hit is not None:
                self._prompts.move_to_end(key)
                return hit
        dicts = [_for_template(m) for m in messages]
        fmt = self._formatter(messages=dicts, tools=list(tools)) if tools else self._formatter(messages=dicts)
        tokens = self._llm.tokenize(fmt.prompt.encode("utf-8"), add_bos=not fmt.added_special, special=True)
        with self._prompt_lock:
            self._prompts[key] = (tokens, fmt)
            while len(self._prompts) > PROMPTS_KEPT:
                self._prompts.popitem(last=False)
        return tokens, fmt

    @property
    def _last_prompt(self) -> tuple[Any, list[int], Any] | None:
        """The prompt rendered or used last: (its key, its tokens, the formatter's result), or None."""
        with self._prompt_lock:
            if not self._prompts:
                return None
            key, (tokens, fmt) = next(reversed(self._prompts.items()))
        return key, tokens, fmt

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> tuple[int, bool]:
        if self._llm is None:
            return estimate_prompt_tokens(messages), False
        tokens, _ = await asyncio.get_running_loop().run_in_executor(self._executor, self._tokens, messages)
        return len(tokens), True

    # generation --------------------------------------------------------------------------------------
    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams, cancel: CancelToken
    ) -> AsyncIterator[str | Usage | ToolCall]:
        await self.load()
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[object] = asyncio.Queue()
        stop = threading.Event()

        def work() -> None:
            try:
                for item in self._generate(messages, params, cancel, stop):
                    loop.call_soon_threadsafe(items.put_nowait, item)
            except BaseException as e:
                loop.call_soon_threadsafe(items.put_nowait, _Failure(e))
            finally:
                loop.call_soon_threadsafe(items.put_nowait, _DONE)

        done = loop.run_in_executor(self._requests, work)
        try:
            while (item := await items.get()) is not _DONE:
                if isinstance(item, _Failure):
                    if isinstance(item.error, FlynnError):  # e.g. the prompt overflows the context
                        raise item.error
                    raise ProviderError(
                        f"The local model failed while answering: {item.error}"
                    ) from item.error
                if isinstance(item, str) and cancel.cancelled:
                    continue  # written before the stop reached the model's thread: not delivered
                yield item  # type: ignore[misc]
        finally:
            stop.set()  # the consumer went away: stop generating, free the slot
            if self.engine is not None:
                self.engine.wake()
            await asyncio.shield(done)

    def _generate(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        cancel: CancelToken,
        stop: threading.Event,
    ) -> Iterator[str | Usage | ToolCall]:
        if params.fill_middle is not None and self._fim is not None:
            # autocomplete with the model's own fill-in-the-middle tokens: no template, no system prompt
            tokens = self._fim_tokens(params.max_tokens, *params.fill_middle)
            yield from self._complete(tokens, params, [*self._fim, *params.stop], cancel, stop, {})
            return
        tools = list(params.tools) if params.tools and self.supports_tools else []
        tokens, fmt = self._tokens(messages, tools)
        if len(tokens) >= self._n_ctx:
            raise ContextOverflowError(
                f"The prompt needs {len(tokens)} tokens, but the model's context holds {self._n_ctx}.",
                "Send less history, or raise models.providers.local.contextLength.",
            )
        stops = [*(fmt.stop if isinstance(fmt.stop, list) else [fmt.stop] if fmt.stop else []), *params.stop]
        extra: dict[str, Any] = {"grammar": self._grammar(params.format)}
        if not tools:
            yield from self._complete(tokens, params, stops, cancel, stop, extra)
            return
        choice, forced = params.tool_choice, tools
        if isinstance(choice, dict):  # one named tool: the model must call it
            named = choice.get("function", {}).get("name")
            forced, choice = [t for t in tools if t["function"]["name"] == named] or tools, "required"
        if choice == "required":
            extra["grammar"] = self._tool_grammar(forced)
        scan = ToolText({t["function"]["name"] for t in tools})
        for item in self._complete(tokens, params, stops, cancel, stop, extra):
            if isinstance(item, str):
                yield from scan.feed(item)
                continue
            text, calls = scan.end()  # the Usage comes last: what was held back, then the calls
            if text:
                yield text
            yield from calls
            yield dataclasses.replace(item, finish_reason="tool_calls") if calls else item

    def _complete(
        self,
        tokens: list[int],
        params: GenerationParams,
        stops: list[str],
        cancel: CancelToken,
        stop: threading.Event,
        extra: dict[str, Any],
    ) -> Iterator[str | Usage]:
        """Stream the slots' completion of `tokens`: text pieces, then the Usage. (A request thread
        waits here; the model's thread does the work.)"""
        engine = self.engine
        if engine is None:
            raise ProviderError("The local model was unloaded before it could answer.")
        out: queue.SimpleQueue[object] = queue.SimpleQueue()
        grammar = extra.get("grammar")
        job = Job(
            tokens=list(tokens),
            max_tokens=params.max_tokens,
            emit=out.put,
            temperature=params.temperature,
            sampling=params.sampling.over(self._sampling).given(),
            grammar=(grammar._grammar, grammar._root) if grammar is not None else None,
            stops=[s for s in stops if s],
            autocomplete=params.fill_middle is not None,
            cancel=cancel,
            stop=stop,
        )
        engine.submit(job)
        while True:
            item = out.get()
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
            if isinstance(item, Usage):
                return

    def _fim_tokens(self, max_tokens: int, prefix: str, suffix: str) -> list[int]:
        """The model's own fill-in-the-middle prompt, made to fit: what is far from the cursor (the
        prefix's start, the suffix's end) gives way first."""
        assert self._fim is not None
        budget = self._n_ctx - min(max_tokens, self._n_ctx // 2)
        while True:
            text = fim_prompt(self._fim, prefix, suffix)
            tokens: list[int] = self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
            if len(tokens) <= budget or not (prefix or suffix):
                return tokens
            prefix, suffix = prefix[max(1, len(prefix) // 4) :], suffix[: len(suffix) * 3 // 4]

    def _tool_grammar(self, tools: list[dict[str, Any]]) -> Any:
        """A grammar that makes the model call one of `tools` (tool_choice required, or named), with
        arguments that follow the tool's parameters."""
        from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

        key = "tools:" + json.dumps(tools, sort_keys=True)
        if key not in self._grammars:
            try:
                call = json_schema_to_gbnf(json.dumps(tool_call_schema(tools)))
                self._grammars[key] = LlamaGrammar.from_string(tool_call_gbnf(call), verbose=False)
            except Exception as e:  # a schema llama.cpp's converter can't take
                raise ProviderBadRequestError(
                    f"These tools' parameters can't be turned into a grammar for the local model: {e}",
                    "Send simpler parameter schemas, or leave tool_choice unset.",
                ) from e
        return self._grammars[key]

    def _grammar(self, output: Any) -> Any:
        """A llama.cpp grammar that lets the model write only JSON (following a schema, when given):
        structured output that always parses. Built once per schema."""
        if output is None:
            return None
        from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

        key = "json" if output == "json" else json.dumps(output, sort_keys=True)
        if key not in self._grammars:
            try:
                grammar = (
                    LlamaGrammar.from_string(JSON_GBNF, verbose=False)
                    if key == "json"
                    else LlamaGrammar.from_json_schema(key, verbose=False)
                )
            except Exception as e:  # a schema llama.cpp's converter can't take
                raise ProviderBadRequestError(
                    f"This JSON schema can't be turned into a grammar for the local model: {e}",
                    "Simplify the schema (objects, arrays, strings, numbers, enums), or ask for plain JSON.",
                ) from e
            self._grammars[key] = grammar
        return self._grammars[key]

    async def check_ready(self) -> str:
        """The model's file is there and whole (its checksum is remembered by path, size and time)."""
        resolved = await asyncio.to_thread(self._files.resolve, self.model, self._gguf_path, lambda _p: None)
        return f"{resolved.path.name}{' (loaded)' if self.loaded else ''}"

    async def unload(self) -> None:
        """Free the model's memory once the answers it is writing (and those waiting for a slot) are
        done; the next request loads it again."""
        async with self._load_lock:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._free, True)

    def _free(self, drain: bool = False) -> None:
        engine, llm = self.engine, self._llm
        if engine is not None:
            engine.close(drain)
        self.engine, self._llm = None, None
        with self._prompt_lock:
            self._prompts.clear()
        if llm is not None:
            llm.close()

    async def close(self) -> None:
        """At quit: what still runs ends now, with an error that says the model was unloaded."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._free)
        self._executor.shutdown(wait=False)
        self._requests.shutdown(wait=False)

    def slots(self) -> dict[str, Any]:
        """What /metrics shows of the slots: their KV memory, what answers and waits now, and the
        counters since load (empty when not loaded)."""
        engine = self.engine
        if engine is None:
            return {}
        running, waiting = engine.busy()
        return {
            "kv_bytes": self.kv_bytes_per_slot * (self.parallel + 1),
            "running": running,
            "waiting": waiting,
            "stats": dataclasses.asdict(engine.stats),
        }


def _arch_number(md: dict[str, str], key: str) -> int:
    try:
        return int(float(md.get(f"{md.get('general.architecture', '')}.{key}", 0)))
    except ValueError:
        return 0


class SlotPlan(NamedTuple):
    per_slot: int  # KV cache bytes per slot
    fits: int  # how many of the chat slots asked for fit beside the model and the autocomplete slot
    free: int  # bytes of memory free now (0: unknown)


def plan_slots(md: dict[str, str], path: Path, n_ctx: int, parallel: int) -> SlotPlan:
    """The slots' memory, and how many of `parallel` fit in free memory (0 when not even one does)."""
    per_slot = n_ctx * kv_bytes_per_token(md)
    free = meminfo().get("MemAvailable", 0)
    if not per_slot or not free:
        return SlotPlan(per_slot, parallel, free)
    budget = free * 0.9 - path.stat().st_size
    return SlotPlan(per_slot, max(0, min(parallel, int(budget // per_slot) - 1)), free)


def kv_bytes_per_token(md: dict[str, str]) -> int:
    """The KV cache's bytes per token of context (keys and values, f16, every layer), from a GGUF's
    metadata; 0 when it doesn't say."""
    heads, kv_heads = _arch_number(md, "attention.head_count"), _arch_number(md, "attention.head_count_kv")
    width = _arch_number(md, "attention.key_length") or (
        _arch_number(md, "embedding_length") // heads if heads else 0
    )
    return _arch_number(md, "block_count") * width * (kv_heads or heads) * 2 * 2


def init_llama() -> None:
    """Once per process, before any model is read: llama.cpp's log set to errors only, the CPU kernels
    for this CPU (a portable build loads them; ModelError when none can run here), and llama.cpp's
    backend."""
    global _backend_ready
    with _backend:
        if not _backend_ready:
            import llama_cpp

            load_cpu_kernels()
            llama_cpp.llama_backend_init()
            _backend_ready = True


def gguf_metadata(path: Path) -> dict[str, str]:
    """A GGUF's metadata, read with its vocabulary only (no weights, no context): about 0.1 s. Empty
    when the file can't be read (its full load says why)."""
    import llama_cpp
    from llama_cpp._internals import LlamaModel

    init_llama()
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    try:
        meta = LlamaModel(path_model=str(path), params=params, verbose=False)
    except Exception:
        return {}
    try:
        return dict(meta.metadata())
    finally:
        meta.close()


def _for_template(m: ChatMessage) -> dict[str, Any]:
    """A message as chat templates expect it: a tool call's arguments as an object, not JSON text."""
    d = m.as_dict()
    for call in d.get("tool_calls", []):
        with contextlib.suppress(json.JSONDecodeError):
            call["function"]["arguments"] = json.loads(call["function"]["arguments"] or "{}")
    return d
