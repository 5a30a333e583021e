"""The model library's catalog (models/catalog.yaml: curated GGUF models, small to 8B), and whether a
model fits this computer: "runs well", "will be slow" or "too big", with the reasons."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from flynn_desktop.checksums import manifest_dir
from flynn_desktop.config.schema import SamplingConfig
from flynn_desktop.core.messages import Sampling
from flynn_desktop.errors import ConfigError

GB = 1e9
BANDWIDTH_PER_CORE = 3e9  # bytes/s of weights one core reads while generating (measured: 2 cores, 6 GB/s)
SLOW_BELOW = 5.0  # tokens/s: slower than reading speed


@dataclass(frozen=True)
class CatalogModel:
    name: str
    title: str
    url: str
    size: int
    params: float
    context_length: int
    memory: float  # GB of RAM with context_length tokens of context
    licence: str
    quant: str = ""
    description: str = ""
    sha256: str | None = None
    tools: bool = False
    fim: bool = False
    sampling: Sampling = field(default_factory=Sampling)


def catalog_file() -> Path:
    return manifest_dir() / "catalog.yaml"


def load_catalog(path: Path | None = None) -> dict[str, CatalogModel]:
    """The catalog's models by name (the shipped file unless `path`)."""
    path = path or catalog_file()
    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
        out: dict[str, CatalogModel] = {}
        for d in data.get("models") or []:
            sampling = SamplingConfig.model_validate(d.get("sampling") or {}).model_dump()
            m = CatalogModel(
                name=str(d["name"]),
                title=str(d.get("title") or d["name"]),
                url=str(d["url"]),
                size=int(d["size"]),
                params=float(d["params"]),
                context_length=int(d["contextLength"]),
                memory=float(d["memory"]),
                licence=str(d["licence"]),
                quant=str(d.get("quant") or ""),
                description=str(d.get("description") or ""),
                sha256=(str(d["sha256"]).lower() if d.get("sha256") else None),
                tools=bool(d.get("tools")),
                fim=bool(d.get("fim")),
                sampling=Sampling(**sampling),
            )
            out[m.name] = m
        return out
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise ConfigError(
            f"The model catalog {path} can't be read: {e}",
            "Reinstall Flynn, or fix or remove the file named in models.catalog.",
        ) from e


@dataclass(frozen=True)
class Machine:
    """What a model's fit is judged against."""

    memory_total: int  # bytes of RAM
    memory_free: int  # bytes available now (MemAvailable)
    cores: int
    avx2: bool
    disk_free: int  # bytes free where models are saved


def meminfo() -> dict[str, int]:
    """Linux's /proc/meminfo in bytes (MemTotal, MemAvailable: what a new allocation can have); empty
    where there is none."""
    out: dict[str, int] = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            out[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return out


def _avx2() -> bool:
    try:
        return " avx2" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return True  # not Linux: every x86-64 CPU the bundle is built for has it, or the OS tells no more


def this_machine(models_dir: Path) -> Machine:
    mem = meminfo()
    total = mem.get("MemTotal") or 8 * 2**30
    folder = models_dir
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return Machine(
        memory_total=total,
        memory_free=mem.get("MemAvailable", total),
        cores=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 2),
        avx2=_avx2(),
        disk_free=shutil.disk_usage(folder).free,
    )


@dataclass(frozen=True)
class Fit:
    verdict: str  # "runs well" | "will be slow" | "too big"
    reasons: tuple[str, ...]
    tokens_per_second: float  # an estimate for this computer

    @property
    def ok(self) -> bool:
        return self.verdict != "too big"


def fit(size: int, memory_gb: float, m: Machine, installed: bool = False) -> Fit:
    """Whether a model of `size` bytes needing `memory_gb` of RAM fits `m`, and why. Generating a token
    reads every weight once, so its speed is about the cores' memory bandwidth over the file's size."""
    need = memory_gb * GB
    speed = min(m.cores, 8) * BANDWIDTH_PER_CORE / max(size, 1)
    too_big: list[str] = []
    slow: list[str] = []
    if not installed and size > m.disk_free:
        too_big.append(f"needs {size / GB:.1f} GB of disk, {m.disk_free / GB:.1f} GB free")
    if need > m.memory_total * 0.8:
        too_big.append(f"needs {need / GB:.1f} GB of memory; this computer has {m.memory_total / GB:.1f} GB")
    elif need > m.memory_free:
        slow.append(f"needs {need / GB:.1f} GB of memory, {m.memory_free / GB:.1f} GB free now")
    if speed < SLOW_BELOW:
        slow.append(f"about {speed:.0f} tokens/s on {m.cores} cores")
    if not m.avx2:
        slow.append("this CPU has no AVX2")
    if too_big:
        return Fit("too big", tuple(too_big), speed)
    if slow:
        return Fit("will be slow", tuple(slow), speed)
    return Fit("runs well", (f"about {speed:.0f} tokens/s, {need / GB:.1f} GB of memory",), speed)
