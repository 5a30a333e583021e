"""Downloading a model file: from a URL or a Hugging Face reference (hf://org/repo/file.gguf, resolved
through huggingface_hub, which honours HF_ENDPOINT), streamed with progress into `<file>.partial`,
resumed with an HTTP Range request after an interruption or a restart, refused up front when the disk
lacks the room, hashed while it arrives and checked against its sha256 before it is used."""

from __future__ import annotations

import errno
import hashlib
import http.client
import json
import os
import queue
import re
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from flynn_desktop import __version__
from flynn_desktop.errors import FlynnError, ModelError, StorageError, storage_error

SHA256 = re.compile(r"[0-9a-f]{64}")
RESERVE = 64 << 20  # bytes left free on the disk after a download
CHUNK = 1 << 20
Report = Callable[[int, int], None]  # (bytes done, bytes in all; 0 when unknown)


class DownloadCancelled(FlynnError):
    """The download was stopped; what arrived is kept, and the same pull resumes it."""

    code = "CANCELLED"


@dataclass(frozen=True)
class Source:
    ref: str  # what the user named: a URL or hf://org/repo/file
    url: str  # what is fetched
    filename: str
    sha256: str | None = None
    size: int | None = None


def parse_hf(ref: str) -> tuple[str, str, str | None]:
    """(repo id, file, revision) of hf://org/repo[@revision]/path/to/file.gguf."""
    parts = ref.removeprefix("hf://").split("/", 2)
    if len(parts) < 3 or not all(parts):
        raise ModelError(
            f"'{ref}' is not a Hugging Face file reference.", "Write it as hf://org/repo/file.gguf."
        )
    repo, _, revision = parts[1].partition("@")
    return f"{parts[0]}/{repo}", parts[2], revision or None


def resolve(ref: str, sha256: str | None = None) -> Source:
    """Where `ref` is fetched from, with the sha256 and size its server publishes (the Hub gives an
    LFS file's sha256 as its ETag); `sha256` (the catalog's, or the user's) wins over the server's."""
    want = sha256.lower() if sha256 else None
    if want is not None and not SHA256.fullmatch(want):
        raise ModelError(
            f"'{sha256}' is not a sha256 (64 hex digits).", "Copy it whole from the model's page."
        )
    if ref.startswith("hf://"):
        from huggingface_hub import get_hf_file_metadata, hf_hub_url
        from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, RepositoryNotFoundError

        repo, filename, revision = parse_hf(ref)
        url = hf_hub_url(repo, filename, revision=revision, endpoint=os.environ.get("HF_ENDPOINT") or None)
        try:
            meta = get_hf_file_metadata(url)
        except (EntryNotFoundError, RepositoryNotFoundError) as e:
            raise ModelError(
                f"{ref} does not exist on the Hub ({type(e).__name__}).",
                "Check the repository and file name on huggingface.co.",
            ) from e
        except (HfHubHTTPError, httpx.HTTPError, OSError, Exception) as e:  # huggingface_hub's own http stack
            raise ModelError(
                f"The Hugging Face Hub can't be reached for {ref}: {e}",
                "Check the internet connection (and HTTPS_PROXY, or HF_ENDPOINT for a mirror).",
            ) from e
        etag = (meta.etag or "").strip('"').lower()
        published = etag if SHA256.fullmatch(etag) else None
        return Source(ref, meta.location or url, Path(filename).name, want or published, meta.size)
    if ref.startswith(("https://", "http://")):
        name = Path(httpx.URL(ref).path).name or "model.gguf"
        return Source(ref, ref, name, want, None)
    raise ModelError(
        f"'{ref}' is neither a catalog model, a URL nor an hf:// reference.",
        "Run `flynn models catalog` for the names, or give https://… or hf://org/repo/file.gguf.",
    )


def fetch_text(url: str, limit: int = 1 << 20) -> str:
    """A small text file (a catalog) from `url`."""
    if not url.startswith(("https://", "http://")):
        raise ModelError(f"'{url}' is not an http(s) URL.", "Set models.catalog.url to https://….")
    try:
        r = httpx.get(url, follow_redirects=True, timeout=30.0)
        r.raise_for_status()
    except httpx.HTTPError as e:
        raise ModelError(f"{url} can't be fetched: {e}", "Check the URL and the connection.") from e
    if len(r.content) > limit:
        raise ModelError(f"{url} is {len(r.content)} bytes; a catalog is at most {limit}.", "Check the URL.")
    return r.text


def partial_of(dest: Path) -> Path:
    return dest.with_name(dest.name + ".partial")


def _record_of(dest: Path) -> Path:
    return dest.with_name(dest.name + ".partial.json")


def check_room(folder: Path, need: int) -> None:
    """Refuse a download of `need` more bytes that would leave the disk (nearly) full."""
    free = shutil.disk_usage(folder).free
    if need + RESERVE > free:
        e = StorageError(
            f"The download needs {need / 1e9:.2f} GB, and the disk holding {folder} has "
            f"{free / 1e9:.2f} GB free.",
            "Free some disk space (or remove a model with `flynn models rm`), then pull again.",
        )
        e.full = True
        raise e


def discard(dest: Path) -> None:
    """Forget a paused download of `dest`."""
    for f in (partial_of(dest), _record_of(dest)):
        f.unlink(missing_ok=True)


def download(
    src: Source,
    dest: Path,
    report: Report | None = None,
    stop: threading.Event | None = None,
) -> str:
    """Fetch `src` into `dest` (atomically: it appears whole and checked, or not at all) and return its
    sha256. A `<dest>.partial` from an earlier try of the same source is resumed with a Range request;
    a stop (the event set) raises DownloadCancelled and keeps it."""
    stop = stop or threading.Event()
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial, record = partial_of(dest), _record_of(dest)
    wanted = {"url": src.ref, "sha256": src.sha256}
    try:
        same = json.loads(record.read_text()) == wanted
    except (OSError, ValueError):
        same = False
    if not same:
        discard(dest)
    if src.size:
        check_room(dest.parent, src.size - (partial.stat().st_size if partial.exists() else 0))
    record.write_text(json.dumps(wanted))
    digest = hashlib.sha256()
    done = 0
    if partial.exists():  # what arrived before: hashed again (about 1 GB/s), then continued
        with partial.open("rb") as f:
            while block := f.read(CHUNK):
                digest.update(block)
                done += len(block)
    done, total, digest = _fetch(src, partial, digest, done, report, stop)
    if total and done != total:
        raise ModelError(
            f"The download of {src.filename} ended at {done / 1e6:.0f} of {total / 1e6:.0f} MB.",
            "Pull it again: it resumes where it stopped.",
        )
    sha = digest.hexdigest()
    if src.sha256 and sha != src.sha256:
        discard(dest)
        raise ModelError(
            f"The download of {src.filename} is damaged: its sha256 is {sha[:12]}…, expected "
            f"{src.sha256[:12]}…. It was deleted.",
            "Pull it again; if it fails the same way, the source changed: check the sha256 you gave.",
        )
    os.replace(partial, dest)
    record.unlink(missing_ok=True)
    return sha


def _open(src: Source, done: int) -> Any:
    """The response for `src` from byte `done` on, or None when everything had arrived (416)."""
    headers = {"User-Agent": f"flynn-desktop/{__version__}", "Accept-Encoding": "identity"}
    if done:
        headers["Range"] = f"bytes={done}-"
    try:  # urllib: proxies from the environment (HTTPS_PROXY, NO_PROXY), redirects followed
        return urllib.request.urlopen(urllib.request.Request(src.url, headers=headers), timeout=60)
    except urllib.error.HTTPError as e:
        if e.code == 416 and done:
            return None
        raise ModelError(
            f"{src.url} answered HTTP {e.code} {e.reason}.",
            "Check the name or URL; for a private Hugging Face repository, set HF_TOKEN.",
        ) from e
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
        raise ModelError(
            f"{src.url} can't be reached: {getattr(e, 'reason', e)}",
            "Check the connection (and HTTPS_PROXY), then pull again.",
        ) from e


def _fetch(
    src: Source,
    partial: Path,
    digest: hashlib._Hash,
    done: int,
    report: Report | None,
    stop: threading.Event,
) -> tuple[int, int, hashlib._Hash]:
    """Fetch the rest of `src` into `partial`: this thread reads the network, a second one writes and
    hashes (both release the GIL), so checking the sha256 costs next to nothing."""
    r = _open(src, done)
    if r is None:
        return done, done, digest
    with r:
        if r.status == 206:
            content_range = r.headers.get("Content-Range", "bytes 0-0/0")
            total = int(content_range.rpartition("/")[2] or 0)
            start = int(content_range.split()[-1].split("-")[0])
            if start != done:
                raise ModelError(f"{src.url} resumed at byte {start}, not {done}.", "Pull it again.")
        else:
            if done:  # the server does not take ranges: start again
                done, digest = 0, hashlib.sha256()
            total = int(r.headers.get("Content-Length") or src.size or 0)
        if total:
            check_room(partial.parent, total - done)
        blocks: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        failed: list[OSError] = []

        def write() -> None:
            try:
                with partial.open("ab" if done else "wb") as f:
                    while (block := blocks.get()) is not None:
                        f.write(block)
                        digest.update(block)
            except OSError as e:
                failed.append(e)
                while blocks.get() is not None:  # let the reader finish
                    pass

        writer = threading.Thread(target=write, name="model-download-writer", daemon=True)
        writer.start()
        last = 0.0
        try:
            while not failed and (block := r.read(CHUNK)):
                if stop.is_set():
                    raise DownloadCancelled(
                        f"The download of {src.filename} was stopped at {done / 1e6:.0f} MB.",
                        "Pull it again to resume.",
                    )
                blocks.put(block)
                done += len(block)
                now = time.monotonic()
                if report and now - last >= 0.1:
                    last = now
                    report(done, total)
        except (http.client.HTTPException, OSError) as e:
            raise ModelError(
                f"The download of {src.filename} stopped at {done / 1e6:.0f} MB: {e!r}",
                "Check the connection and pull it again: it resumes where it stopped.",
            ) from e
        finally:
            blocks.put(None)
            writer.join()
    if failed:
        if failed[0].errno in (errno.ENOSPC, errno.EDQUOT):
            raise storage_error("the model file", partial, failed[0]) from failed[0]
        raise failed[0]
    if report:
        report(done, total)
    return done, total, digest
