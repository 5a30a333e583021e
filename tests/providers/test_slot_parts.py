"""The slots' pure parts, without a model: stop strings held back while they may be starting, the common
start of two prompts, and the saved conversations' budget (RAM, then disk, then dropped)."""

from __future__ import annotations

import ctypes
from pathlib import Path

from flynn_desktop.providers.llama_slots import StateCache, common_prefix, held_back


def buffer(n: int, fill: int = 7) -> ctypes.Array[ctypes.c_ubyte]:
    return (ctypes.c_ubyte * n)(*([fill] * n))


def test_text_that_may_start_a_stop_string_is_held_back() -> None:
    assert held_back("Hello <|im", ["<|im_end|>"]) == 4
    assert held_back("Hello <", ["<|im_end|>", "\n\nUser:"]) == 1
    assert held_back("Hello\n\nUs", ["<|im_end|>", "\n\nUser:"]) == 4
    assert held_back("Hello", ["<|im_end|>"]) == 0
    assert held_back("", ["x"]) == 0 and held_back("abc", []) == 0


def test_common_prefix() -> None:
    assert common_prefix([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix([], [1]) == 0 and common_prefix([1, 2], [1, 2, 3]) == 2


def test_saved_states_fill_ram_then_disk_then_the_oldest_go(tmp_path: Path) -> None:
    cache = StateCache(ram_bytes=100, disk_bytes=200, folder=tmp_path)
    cache.put([1, 2, 3], buffer(80, 1), 80)
    assert (cache.in_ram, cache.on_disk) == (80, 0)
    cache.put([4, 5, 6], buffer(80, 2), 80)  # over the RAM budget: the older one goes to disk
    assert (cache.in_ram, cache.on_disk) == (80, 80) and len(list(tmp_path.glob("*.kv"))) == 1
    cache.put([7, 8, 9], buffer(80, 3), 80)
    cache.put([10, 11], buffer(80, 4), 80)
    assert cache.on_disk == 160 and len(cache) == 3  # the oldest on disk was dropped
    key, n = cache.best([1, 2, 3, 99])
    assert n == 0  # [1, 2, 3] was the one dropped
    key, n = cache.best([4, 5, 6, 99])
    assert n == 3
    tokens, data = cache.take(key)  # read back from disk, byte for byte, and its file removed
    assert tokens == (4, 5, 6) and bytes(data) == bytes([2] * 80)
    assert len(list(tmp_path.glob("*.kv"))) == 1 and len(cache) == 2


def test_a_longer_save_of_the_same_conversation_replaces_the_shorter(tmp_path: Path) -> None:
    cache = StateCache(ram_bytes=1000, disk_bytes=0, folder=tmp_path)
    cache.put([1, 2, 3], buffer(10), 10)
    cache.put([1, 2, 3, 4, 5], buffer(20), 20)
    assert len(cache) == 1 and cache.in_ram == 20
    assert cache.best([1, 2, 3, 4, 9])[1] == 4


def test_without_a_disk_budget_states_past_the_ram_are_dropped(tmp_path: Path) -> None:
    cache = StateCache(ram_bytes=50, disk_bytes=0, folder=tmp_path)
    cache.put([1], buffer(40), 40)
    cache.put([2], buffer(40), 40)
    assert len(cache) == 1 and cache.on_disk == 0 and not list(tmp_path.glob("*.kv"))
    cache.clear()
    assert len(cache) == 0
