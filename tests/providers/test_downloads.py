"""Downloading a model file from a loopback server that serves a real GGUF (a copy of the bundled one)
with HTTP Range, and as the Hugging Face Hub does: a whole transfer, one cut in the middle and resumed,
a wrong sha256, no room on the disk, a stop, a server that ignores Range, missing files."""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from flynn_desktop.errors import ModelError, StorageError
from flynn_desktop.providers import download as dl
from flynn_desktop.providers.download import DownloadCancelled, download, partial_of, resolve
from tests.helpers.file_server import FileServer
from tests.helpers.gguf_files import bundled_gguf

SOURCE = bundled_gguf()
SIZE = SOURCE.stat().st_size
SHA = hashlib.sha256(SOURCE.read_bytes()).hexdigest()
HUB = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF/tiny.gguf"


@pytest.fixture
def server() -> Iterator[FileServer]:
    s = FileServer({"/models/tiny.gguf": SOURCE}, hub={HUB: SOURCE})
    yield s
    s.close()


def gets(server: FileServer) -> list[str | None]:
    """The Range header of each GET of the file."""
    return [x.range for x in server.seen if x.method == "GET" and "tiny.gguf" in x.path]


def test_a_whole_download_is_checked_and_appears_at_once(server: FileServer, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    dest = tmp_path / "tiny.gguf"
    sha = download(resolve(server.url + "/models/tiny.gguf", SHA), dest, lambda d, t: seen.append((d, t)))
    assert sha == SHA and dest.read_bytes() == SOURCE.read_bytes()
    assert not partial_of(dest).exists() and list(tmp_path.iterdir()) == [dest]
    assert seen[-1] == (SIZE, SIZE) and all(t == SIZE for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_a_cut_transfer_resumes_with_a_range_request(server: FileServer, tmp_path: Path) -> None:
    server.cut_at = [SIZE // 3]
    dest = tmp_path / "tiny.gguf"
    src = resolve(server.url + "/models/tiny.gguf", SHA)
    with pytest.raises(ModelError) as cut:
        download(src, dest)
    assert "resumes where it stopped" in str(cut.value) and not dest.exists()
    kept = partial_of(dest).stat().st_size
    assert 0 < kept <= SIZE // 3
    assert download(src, dest) == SHA  # the same pull again
    assert gets(server) == [None, f"bytes={kept}-"]
    assert dest.stat().st_size == SIZE and dest.read_bytes() == SOURCE.read_bytes()  # the bytes add up


def test_a_wrong_sha256_deletes_the_file_and_says_so(server: FileServer, tmp_path: Path) -> None:
    dest = tmp_path / "tiny.gguf"
    with pytest.raises(ModelError) as bad:
        download(resolve(server.url + "/models/tiny.gguf", "0" * 64), dest)
    assert "damaged" in str(bad.value) and "deleted" in str(bad.value)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ModelError, match="not a sha256"):
        resolve(server.url + "/models/tiny.gguf", "abc")


def test_no_room_is_refused_before_anything_is_fetched(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    real = shutil.disk_usage

    def nearly_full(path):  # type: ignore[no-untyped-def]
        return real(path)._replace(free=SIZE // 2)

    monkeypatch.setattr(dl.shutil, "disk_usage", nearly_full)
    with pytest.raises(StorageError) as full:  # the size is known from the server's answer
        download(resolve(server.url + "/models/tiny.gguf"), tmp_path / "tiny.gguf")
    assert full.value.full and "GB free" in str(full.value)
    assert not (tmp_path / "tiny.gguf").exists()
    server.seen.clear()
    with pytest.raises(StorageError):  # the Hub publishes the size: refused before any GET
        download(resolve(f"hf://{HUB}"), tmp_path / "hub.gguf")
    assert gets(server) == []


def test_a_stopped_download_keeps_what_arrived_and_resumes(server: FileServer, tmp_path: Path) -> None:
    server.hold_at = 32 << 20  # more than the sockets buffer: some of it reached the file
    dest, stop = tmp_path / "tiny.gguf", threading.Event()
    src = resolve(server.url + "/models/tiny.gguf", SHA)
    failed: list[BaseException] = []

    def run() -> None:
        try:
            download(src, dest, stop=stop)
        except BaseException as e:
            failed.append(e)

    t = threading.Thread(target=run)
    t.start()
    assert server.held.wait(30)  # the transfer is under way, and held by the server
    stop.set()
    server.release.set()
    t.join(30)
    assert len(failed) == 1 and isinstance(failed[0], DownloadCancelled)
    assert not dest.exists() and 0 < partial_of(dest).stat().st_size < SIZE
    server.hold_at = None
    kept = partial_of(dest).stat().st_size
    assert download(src, dest) == SHA
    assert gets(server)[-1] == f"bytes={kept}-" and dest.read_bytes() == SOURCE.read_bytes()


def test_a_server_that_ignores_range_starts_again(server: FileServer, tmp_path: Path) -> None:
    server.cut_at = [SIZE // 2]
    dest = tmp_path / "tiny.gguf"
    src = resolve(server.url + "/models/tiny.gguf", SHA)
    with pytest.raises(ModelError):
        download(src, dest)
    server.ignore_range = True
    assert download(src, dest) == SHA and dest.read_bytes() == SOURCE.read_bytes()


def test_hugging_face_references_resolve_through_hf_endpoint(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    src = resolve(f"hf://{HUB}")
    assert src.sha256 == SHA and src.size == SIZE  # what the Hub publishes: X-Linked-Etag and -Size
    assert src.url.startswith(server.cdn)  # the redirect's target, another origin
    assert download(src, tmp_path / "tiny.gguf") == SHA
    with pytest.raises(ModelError, match="does not exist on the Hub"):
        resolve("hf://HuggingFaceTB/SmolLM2-135M-Instruct-GGUF/nosuch.gguf")
    with pytest.raises(ModelError, match="not a Hugging Face file reference"):
        resolve("hf://only-an-org")
    with pytest.raises(ModelError, match="HTTP 404"):
        download(resolve(server.url + "/models/nosuch.gguf"), tmp_path / "x.gguf")
