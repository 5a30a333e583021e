"""memory.chroma.url: the same store against a real `chroma run` server on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from flynn_desktop.core.memory import SearchSettings
from flynn_desktop.errors import StorageError
from flynn_desktop.memory.store import MemoryService
from tests.memory.test_store import agree


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    chroma = Path(sys.executable).with_name("chroma")
    proc = subprocess.Popen(
        [
            str(chroma),
            "run",
            "--path",
            str(tmp_path / "server-data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # a readiness wait, not a timing assertion
        while True:
            assert proc.poll() is None, "chroma run exited"
            try:
                if httpx.get(url + "/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "chroma run did not start"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_store_works_against_a_chroma_server(
    make_service: Callable[..., MemoryService], tmp_path: Path, chroma_server: str
) -> None:
    svc = make_service(tmp_path / "m", chroma_url=chroma_server)
    assert svc.stats()["store"] == chroma_server
    svc.add("My sister's name is Alba.")
    svc.add("The gym locker code is XK-7741.")
    assert not (tmp_path / "m" / "chroma").exists()  # nothing kept locally but the record and words
    hit = svc.search("what's my sister called?", SearchSettings()).hits[0]
    assert "Alba" in hit.memory.text and hit.vector > 0.5
    agree(svc)
    svc.close()
    again = make_service(tmp_path / "m", chroma_url=chroma_server)  # the vectors live on the server
    assert again.reconcile() == 0
    assert again.vectors.count() == 2


def test_a_chroma_server_that_is_down_gets_a_clear_message(
    make_service: Callable[..., MemoryService], tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    svc = make_service(tmp_path / "m", chroma_url=url)  # memory opens; what needs vectors says why
    with pytest.raises(StorageError) as e:
        svc.add("The ferry leaves at 08:15.")
    assert url in str(e.value) and "chroma run" in str(e.value)
    found = svc.search("ferry", SearchSettings(0.7, 0.3, 5, 0.5))
    assert found.mode == "keyword" and "chroma run" in found.notice


def test_two_computers_on_one_chroma_server_keep_each_others_vectors(
    make_service: Callable[..., MemoryService], tmp_path: Path, chroma_server: str
) -> None:
    laptop = make_service(tmp_path / "laptop", chroma_url=chroma_server)
    desktop = make_service(tmp_path / "desktop", chroma_url=chroma_server)
    laptop.add("My sister's name is Alba.")
    desktop.add("The gym locker code is XK-7741.")
    laptop.reconcile()  # each one's vectors are strays to the other: on a server they are left alone
    desktop.reconcile()
    assert laptop.vectors.count() == 2
    hits = desktop.search("what's my sister called?", SearchSettings()).hits  # not its own: not shown
    assert all("Alba" not in h.memory.text for h in hits)
    assert "Alba" in laptop.search("what's my sister called?", SearchSettings()).hits[0].memory.text
