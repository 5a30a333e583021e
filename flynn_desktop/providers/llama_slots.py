"""Many conversations at once on one local model: llama.cpp slots with continuous batching.

One llama.cpp context holds `parallel` sequences (slots), each with KV cells of its own, plus one slot
kept for autocomplete so an editor's completions never evict a chat. One thread runs the model: every
step it puts the next token of each answering slot and a chunk of each new prompt into one batch, calls
`llama_decode` once, and samples each request with its own sampler chain. A request that arrives joins
the batch at the next step instead of waiting for the others to finish.

A request goes to the free slot whose cells already hold the longest start of its prompt (the same
conversation, or the same system prompt), so only the rest is read. A conversation whose slot is taken
for another is saved first (`llama_state_seq_get_data`: its cells, in RAM, then on disk past
models.providers.local.stateCacheMb) and put back when it returns, instead of being read again.

Longer than 400 lines on purpose: the slots, the saved states, the batch loop and the per-request
sampling and text (stops, UTF-8 pieces) all serve the one decode loop and its one thread.
"""

from __future__ import annotations

import codecs
import collections
import ctypes
import itertools
import logging
import random
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flynn_desktop.core.interfaces import CancelToken
from flynn_desktop.core.messages import Usage
from flynn_desktop.errors import ModelError, ProviderBadRequestError, ProviderError

log = logging.getLogger(__name__)

BATCH = 512  # tokens per llama_decode: the answering slots' next tokens, then chunks of new prompts
SAVE_AT_LEAST = 32  # a slot's cells are saved before reuse only when this many tokens would be lost
REPEAT_LAST_N = 64  # llama.cpp's default window for the repeat penalty
TOP_K, TOP_P, MIN_P = 40, 0.95, 0.05  # llama.cpp's defaults when neither the request nor the model sets one


@dataclass
class Stats:
    """Counters since load: what the tests and `flynn doctor` read."""

    decode_calls: int = 0
    prompt_tokens: int = 0  # prompt tokens evaluated (read into the KV cache)
    cached_tokens: int = 0  # prompt tokens found already in a slot (or a restored state): not evaluated
    generated_tokens: int = 0
    shared_steps: int = 0  # decode calls that served more than one request
    saved: int = 0  # conversations saved to make room
    restored: int = 0  # conversations put back from a saved state
    requests: int = 0


@dataclass
class Job:
    """One completion: the prompt's tokens in, text pieces and then one Usage (or an error) out."""

    tokens: list[int]
    max_tokens: int
    emit: Callable[[object], None]  # called on the model's thread: str pieces, then a Usage or an error
    temperature: float = 0.2
    sampling: dict[str, Any] = field(default_factory=dict)
    grammar: tuple[str, str] | None = None  # (GBNF text, root rule)
    stops: Sequence[str] = ()
    autocomplete: bool = False  # takes the autocomplete slot
    cancel: CancelToken = field(default_factory=CancelToken)
    stop: threading.Event = field(default_factory=threading.Event)
    # the engine's own state
    slot: _Slot | None = None
    fed: int = 0  # prompt tokens already in the slot's cells
    next_token: int | None = None  # sampled, not yet decoded
    generated: int = 0
    held: str = ""  # text that may be the start of a stop string
    sampler: Any = None
    decoder: Any = None

    @property
    def stopped(self) -> bool:
        return self.stop.is_set() or self.cancel.cancelled


@dataclass
class _Slot:
    seq: int
    autocomplete: bool
    tokens: list[int] = field(default_factory=list)  # what its KV cells hold, in order
    job: Job | None = None
    last_used: int = 0


@dataclass
class _Saved:
    tokens: tuple[int, ...]
    size: int
    data: Any = None  # a ctypes buffer in RAM, or None when on disk
    path: Path | None = None


class StateCache:
    """Conversations' KV cells saved from slots: the most recent in RAM up to `ram_bytes`, older ones
    on disk up to `disk_bytes`, the oldest dropped (then read again if they come back)."""

    def __init__(self, ram_bytes: int, disk_bytes: int, folder: Path | None) -> None:
        self.ram_bytes, self.disk_bytes = ram_bytes, disk_bytes
        self._folder = folder
        self._entries: collections.OrderedDict[int, _Saved] = collections.OrderedDict()
        self._ids = itertools.count()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def in_ram(self) -> int:
        return sum(e.size for e in self._entries.values() if e.data is not None)

    @property
    def on_disk(self) -> int:
        return sum(e.size for e in self._entries.values() if e.path is not None)

    def put(self, tokens: Sequence[int], data: Any, size: int) -> None:
        for key in [k for k, e in self._entries.items() if tuple(tokens[: len(e.tokens)]) == e.tokens]:
            self._drop(key)  # an earlier save of the same conversation: this one has all of it
        self._entries[next(self._ids)] = _Saved(tuple(tokens), size, data)
        while self.in_ram > self.ram_bytes and self._spill():
            pass
        while self.on_disk > self.disk_bytes:
            self._drop(next(k for k, e in self._entries.items() if e.path is not None))

    def best(self, tokens: Sequence[int]) -> tuple[int, int]:
        """(key, length of the common start) of the saved conversation that shares most of `tokens`."""
        found = (-1, 0)
        for key, e in self._entries.items():
            n = common_prefix(e.tokens, tokens)
            if n > found[1]:
                found = (key, n)
        return found

    def take(self, key: int) -> tuple[tuple[int, ...], Any]:
        e = self._entries.pop(key)
        if e.data is None and e.path is not None:
            raw = e.path.read_bytes()
            e.path.unlink(missing_ok=True)
            return e.tokens, (ctypes.c_ubyte * len(raw)).from_buffer_copy(raw)
        return e.tokens, e.data

    def clear(self) -> None:
        for key in list(self._entries):
            self._drop(key)

    def _spill(self) -> bool:
        """The oldest state in RAM goes to disk (or is dropped when there is no disk budget)."""
        key = next((k for k, e in self._entries.items() if e.data is not None), None)
        if key is None:
            return False
        e = self._entries[key]
        if self._folder is None or e.size > self.disk_bytes:
            self._drop(key)
            return True
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self._folder, suffix=".kv", delete=False) as f:
                f.write(memoryview(e.data).cast("B")[: e.size])
            e.path, e.data = Path(f.name), None
        except OSError as err:  # a full disk: the state is dropped, the conversation read again later
            log.warning("could not save a conversation's cache to %s: %s", self._folder, err)
            self._drop(key)
        return True

    def _drop(self, key: int) -> None:
        e = self._entries.pop(key)
        if e.path is not None:
            e.path.unlink(missing_ok=True)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def held_back(text: str, stops: Sequence[str]) -> int:
    """How many characters at the end of `text` could be the start of a stop string."""
    keep = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), keep, -1):
            if text.endswith(s[:k]):
                keep = k
                break
    return keep


class SlotEngine:
    """The model's one thread and its slots. `submit` from any thread; results come back through each
    job's `emit`."""

    def __init__(
        self,
        model: Any,
        vocab: Any,
        *,
        n_ctx: int,
        parallel: int,
        threads: int,
        state_cache_bytes: int,
        state_folder: Path | None,
    ) -> None:
        import llama_cpp

        self._l = llama_cpp
        self.n_ctx = n_ctx  # per slot
        self._vocab = vocab
        cp = llama_cpp.llama_context_default_params()
        cp.n_seq_max = parallel + 1  # and one for autocomplete
        cp.n_ctx = n_ctx * cp.n_seq_max  # each sequence has n_ctx cells of its own (kv_unified off)
        cp.n_batch = cp.n_ubatch = BATCH
        cp.n_threads = cp.n_threads_batch = threads
        cp.kv_unified = False
        cp.no_perf = True
        self._ctx = llama_cpp.llama_init_from_model(model, cp)
        if not self._ctx:
            raise ModelError(
                f"llama.cpp could not make a context of {parallel + 1} slots × {n_ctx} tokens.",
                "Lower models.providers.local.parallel or contextLength.",
            )
        self._mem = llama_cpp.llama_get_memory(self._ctx)
        self._batch = llama_cpp.llama_batch_init(BATCH, 0, 1)
        self._slots = [_Slot(i, autocomplete=i == parallel) for i in range(parallel + 1)]
        self.cache = StateCache(state_cache_bytes, 4 * state_cache_bytes, state_folder)
        self.stats = Stats()
        self._ticks = itertools.count(1)
        self._incoming: collections.deque[Job] = collections.deque()
        self._waiting: collections.deque[Job] = collections.deque()
        self._wake = threading.Condition()
        self._closing = self._draining = False
        self._thread = threading.Thread(target=self._run, name="llama-slots", daemon=True)
        self._thread.start()

    # from any thread -------------------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        if not job.tokens:
            raise ProviderBadRequestError("The prompt is empty.", "Send some text to complete.")
        with self._wake:
            if self._closing or self._draining:
                raise ProviderError(
                    "The local model is being unloaded (another model takes its memory).", "Ask again."
                )
            self._incoming.append(job)
            self._wake.notify()

    def wake(self) -> None:
        """A job was stopped from outside: let the loop see it even when idle."""
        with self._wake:
            self._wake.notify()

    def busy(self) -> tuple[int, int]:
        """(slots answering, requests waiting for one)."""
        return sum(1 for s in self._slots if s.job), len(self._waiting) + len(self._incoming)

    def close(self, drain: bool = False) -> None:
        """Stop the loop, then free the context. `drain`: the requests already running or waiting
        finish first (new ones are refused); otherwise they end with an error."""
        with self._wake:
            self._draining = drain
            self._closing = not drain
            self._wake.notify()
        self._thread.join()
        if self._ctx:  # once
            self._l.llama_batch_free(self._batch)
            self._l.llama_free(self._ctx)
            self._ctx = None
        self.cache.clear()

    # the loop --------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._wake:
                while not (self._closing or self._incoming or self._active() or self._waiting_for_none()):
                    if self._draining and not self._waiting:
                        break
                    self._wake.wait()
                if self._closing or (
                    self._draining and not (self._incoming or self._waiting or self._active())
                ):
                    break
                self._waiting.extend(self._incoming)
                self._incoming.clear()
            try:
                self._drop_stopped()
                self._admit()
                if self._active():
                    self._step()
            except Exception as e:  # a bug or llama.cpp's failure: fail what runs, keep serving
                log.exception("the model's loop failed")
                for job in self._active():
                    self._fail(job, e)
        for job in [*self._waiting, *self._incoming, *self._active()]:
            self._fail(job, ProviderError("The local model was unloaded while answering."))

    def _active(self) -> list[Job]:
        return [s.job for s in self._slots if s.job is not None]

    def _waiting_for_none(self) -> bool:
        """A waiting request was stopped, or has a free slot now."""
        free = {s.autocomplete for s in self._slots if s.job is None}
        return any(j.stopped or j.autocomplete in free for j in self._waiting)

    def _drop_stopped(self) -> None:
        for job in [j for j in self._waiting if j.stopped]:
            self._waiting.remove(job)
            job.emit(Usage(len(job.tokens), 0, True, "cancelled"))
        for job in self._active():
            if job.stopped:
                self._finish(job, "cancelled")

    def _admit(self) -> None:
        """Give waiting requests free slots, in order of arrival (an autocomplete waits only for the
        autocomplete slot, so a chat never waits behind one)."""
        for job in list(self._waiting):
            free = [s for s in self._slots if s.job is None and s.autocomplete == job.autocomplete]
            if not free:
                continue
            self._waiting.remove(job)
            self.stats.requests += 1
            try:
                self._place(job, free)
                job.sampler = self._sampler(job)
            except Exception as e:
                self._fail(job, e)

    def _place(self, job: Job, free: list[_Slot]) -> None:
        prompt = job.tokens
        spare = next((s for s in free if not s.tokens), None) or min(free, key=lambda s: s.last_used)
        # the slot whose conversation this prompt goes on with (it keeps at least half of its cells),
        # else an empty one, else the least recently used (saved first)
        mine = [
            (n, s) for s in free if s.tokens and 2 * (n := common_prefix(s.tokens, prompt)) >= len(s.tokens)
        ]
        slot = max(mine, key=lambda m: m[0])[1] if mine else spare
        keep = common_prefix(slot.tokens, prompt)
        key, saved = self.cache.best(prompt)
        if saved > keep:  # a saved conversation holds more of this prompt: put it back
            slot = spare
            tokens, data = self.cache.take(key)
            self._save(slot, common_prefix(slot.tokens, prompt))
            self._l.llama_memory_seq_rm(self._mem, slot.seq, -1, -1)
            if self._l.llama_state_seq_set_data(self._ctx, data, len(data), slot.seq):
                slot.tokens = list(tokens)
                self.stats.restored += 1
            else:
                self._forget(slot)
            keep = common_prefix(slot.tokens, prompt)
        else:
            self._save(slot, keep)
        keep = min(keep, len(prompt) - 1)  # the prompt's last token is read again for its logits
        if keep < len(slot.tokens) and not self._l.llama_memory_seq_rm(self._mem, slot.seq, keep, -1):
            self._forget(slot)  # this model's memory can't be cut part way (recurrent): read it all
            keep = 0
        del slot.tokens[keep:]
        self.stats.cached_tokens += keep
        slot.job, job.slot, job.fed = job, slot, keep
        job.max_tokens = max(0, min(job.max_tokens, self.n_ctx - len(prompt)))
        job.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def _save(self, slot: _Slot, keep: int) -> None:
        """Save a slot's conversation before most of it is overwritten, so it can come back."""
        lost = len(slot.tokens) - keep
        if lost < SAVE_AT_LEAST or lost <= keep or self.cache.ram_bytes <= 0:
            return
        size = self._l.llama_state_seq_get_size(self._ctx, slot.seq)
        data = (ctypes.c_ubyte * size)()
        written = self._l.llama_state_seq_get_data(self._ctx, data, size, slot.seq)
        if written:
            self.cache.put(slot.tokens, data, written)
            self.stats.saved += 1

    def _forget(self, slot: _Slot) -> None:
        self._l.llama_memory_seq_rm(self._mem, slot.seq, -1, -1)
        slot.tokens = []

    def _step(self) -> None:
        """One llama_decode for every running request: answering ones add their last token, new ones
        a chunk of their prompt (oldest first), up to BATCH tokens."""
        b, n = self._batch, 0
        outputs: list[tuple[int, Job]] = []

        def add(token: int, slot: _Slot, logits: bool) -> None:
            nonlocal n
            b.token[n], b.pos[n], b.n_seq_id[n], b.logits[n] = token, len(slot.tokens), 1, logits
            b.seq_id[n][0] = slot.seq
            slot.tokens.append(token)
            if logits:
                outputs.append((n, slot.job))  # type: ignore[arg-type]
            n += 1

        jobs = sorted(self._active(), key=lambda j: j.next_token is None)  # answering ones first
        for job in jobs:
            assert job.slot is not None
            if job.next_token is not None:
                add(job.next_token, job.slot, True)
                job.next_token = None
                continue
            take = min(BATCH - n, len(job.tokens) - job.fed)
            for i in range(job.fed, job.fed + take):
                add(job.tokens[i], job.slot, i == len(job.tokens) - 1)
            self.stats.prompt_tokens += take
            job.fed += take
        b.n_tokens = n
        self.stats.decode_calls += 1
        if len(jobs) > 1:
            self.stats.shared_steps += 1
        result = self._l.llama_decode(self._ctx, b)
        if result != 0:
            for job in jobs:
                self._fail(job, ProviderError(f"llama.cpp could not decode (code {result})."))
            return
        for index, job in outputs:
            self._sampled(job, self._l.llama_sampler_sample(job.sampler, self._ctx, index))

    def _sampled(self, job: Job, token: int) -> None:
        if self._l.llama_vocab_is_eog(self._vocab, token):
            self._finish(job, "stop")
            return
        job.generated += 1
        self.stats.generated_tokens += 1
        if self._text(job, job.decoder.decode(self._piece(token))):
            return  # a stop string ended it
        if job.generated >= job.max_tokens:
            self._finish(job, "length")
        else:
            job.next_token = token

    def _text(self, job: Job, text: str) -> bool:
        """Emit what can't be the start of a stop string; True when a stop string ended the answer."""
        held = job.held + text
        for s in job.stops:
            at = held.find(s) if s else -1
            if at >= 0:
                if held[:at]:
                    job.emit(held[:at])
                job.held = ""
                self._finish(job, "stop")
                return True
        keep = held_back(held, job.stops)
        if len(held) > keep:
            job.emit(held[: len(held) - keep])
        job.held = held[len(held) - keep :]
        return False

    def _piece(self, token: int) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = self._l.llama_token_to_piece(self._vocab, token, buf, 64, 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._l.llama_token_to_piece(self._vocab, token, buf, -n, 0, False)
        return buf.raw[:n]

    def _finish(self, job: Job, reason: str) -> None:
        if job.slot is None:
            return
        rest = job.held + (job.decoder.decode(b"", final=True) if job.decoder else "")
        if rest:
            job.emit(rest)
        job.held = ""
        self._release(job)
        job.emit(Usage(len(job.tokens), job.generated, True, reason))

    def _fail(self, job: Job, error: BaseException) -> None:
        """End a request with an error; its slot's cells may be half written, so they are cleared."""
        slot = self._release(job)
        if slot is not None:
            self._forget(slot)
        job.emit(error)

    def _release(self, job: Job) -> _Slot | None:
        if job.sampler is not None:
            self._l.llama_sampler_free(job.sampler)
            job.sampler = None
        slot, job.slot = job.slot, None
        if slot is not None:
            slot.job, slot.last_used = None, next(self._ticks)
        return slot

    # sampling --------------------------------------------------------------------------------------
    def _sampler(self, job: Job) -> Any:
        """The request's own chain: repeat penalties (over what it wrote), its grammar, then
        greedy at temperature 0, else top-k, top-p, min-p, temperature and a seeded draw."""
        lib, s = self._l, job.sampling
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        last_n = int(s.get("repeat_last_n", REPEAT_LAST_N))
        penalties = lib.llama_sampler_init_penalties(
            lib.llama_vocab_n_tokens(self._vocab),
            last_n,
            float(s.get("repeat_penalty", 1.0)),
            float(s.get("frequency_penalty", 0.0)),
            float(s.get("presence_penalty", 0.0)),
        )
        # only the answer's own tokens count: penalising the prompt's words (the question's "capital",
        # "France") pushes a small model off the answer it should repeat them in
        lib.llama_sampler_chain_add(chain, penalties)
        if job.grammar is not None:
            grammar = lib.llama_sampler_init_grammar(
                self._vocab, job.grammar[0].encode("utf-8"), job.grammar[1].encode("utf-8")
            )
            if not grammar:
                lib.llama_sampler_free(chain)
                raise ProviderError("llama.cpp could not read the grammar for this request.")
            lib.llama_sampler_chain_add(chain, grammar)
        if job.temperature <= 0:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
            return chain
        seed = s.get("seed")
        seed = random.SystemRandom().randrange(1, 1 << 31) if seed is None else int(seed) & 0xFFFFFFFF
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_k(int(s.get("top_k", TOP_K))))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_p(float(s.get("top_p", TOP_P)), 1))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_min_p(float(s.get("min_p", MIN_P)), 1))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_temp(float(job.temperature)))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_dist(seed))
        return chain
