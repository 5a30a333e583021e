"""llama.cpp's CPU kernels, chosen when Flynn starts, for installers that run on every x86-64 CPU.

The installers' llama.cpp is built with GGML_BACKEND_DL and GGML_CPU_ALL_VARIANTS (scripts/build-llama.sh
--portable): its CPU kernels are libraries of their own, one per CPU family (libggml-cpu-x64.so,
-sse42, -haswell, -skylakex, -icelake, -sapphirerapids, ...), and ggml loads the best one this CPU can
run. llama-cpp-python does not load them (abetlen/llama-cpp-python#2069), so Flynn does, through
ctypes, once, before the first model loads: ggml's own ranking, then a test of the best in a process
of its own, since a CPU can report features it can't run. A build for one CPU (`make run`)
has its kernels inside libggml: there is nothing to load, and nothing here runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import importlib.util
import json
import logging
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flynn_desktop.errors import FlynnError, ModelError
from flynn_desktop.paths import Paths
from flynn_desktop.sandbox import python_command

log = logging.getLogger(__name__)

_lock = threading.Lock()
_loaded: CpuKernels | ModelError | None = None


@dataclass(frozen=True)
class CpuKernels:
    portable: bool  # kernels for every CPU family, one chosen at run time
    variant: str  # the family chosen ("haswell"), or "built for this CPU"
    features: tuple[str, ...]  # what the chosen kernels use: AVX2, FMA, AVX512, ...
    passed_over: tuple[str, ...] = ()  # better-ranked families that failed their test here

    def describe(self) -> str:
        if not self.portable:
            return "CPU kernels built for this CPU"
        used = f" ({' '.join(self.features)})" if self.features else ""
        failed = " ".join(f"'{f}'" for f in self.passed_over)
        passed = f"; {failed} failed a test on this CPU" if failed else ""
        return f"CPU kernels for every x86-64 CPU; this one runs '{self.variant}'{used}{passed}"


def variant_files(folder: Path) -> list[Path]:
    """The CPU kernel libraries of a portable build in llama_cpp's lib folder (none in a build for one
    CPU): libggml-cpu-<family>.so, ggml-cpu-<family>.dll, libggml-cpu-<family>.dylib."""
    names, suffixes = ("libggml-cpu-", "ggml-cpu-"), (".so", ".dll", ".dylib")
    return sorted(p for p in folder.glob("*ggml-cpu-*") if p.suffix in suffixes and p.name.startswith(names))


def portable_build() -> bool:
    """Whether the installed llama.cpp is a portable build (found without loading it)."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return False
    return bool(variant_files(Path(next(iter(spec.submodule_search_locations))) / "lib"))


def load_cpu_kernels() -> CpuKernels:
    """Load the best CPU kernels for this CPU (once; later calls return what was chosen). Raises
    ModelError, naming the CPU's features, when none of a portable build's kernels can run here."""
    global _loaded
    with _lock:
        if _loaded is None:
            try:
                _loaded = _load()
            except ModelError as e:
                _loaded = e  # the same answer every time: no kernel runs here
        if isinstance(_loaded, ModelError):
            raise _loaded
        return _loaded


def _load() -> CpuKernels:
    from llama_cpp import _ggml
    from llama_cpp._logger import set_verbose

    set_verbose(False)  # llama.cpp's and ggml's own log: errors only (it prints every graph input)
    files = variant_files(Path(_ggml.libggml_base_path))
    lib = _libggml()
    if not files:
        if lib.ggml_backend_reg_by_name(b"CPU"):
            return CpuKernels(False, "built for this CPU", ())
        raise _no_kernel()  # a portable build whose kernels are gone, or none of which loads
    chosen, passed_over = _choose(files)
    reg = lib.ggml_backend_load(str(chosen).encode())
    if not reg:
        raise _no_kernel()
    return CpuKernels(True, _family(chosen), _features(lib, reg), passed_over)


def _family(path: Path) -> str:
    return path.name.split(".")[0].split("ggml-cpu-", 1)[1]


def _libggml() -> Any:
    """libggml as libllama uses it, with the functions called here declared. The kernels must be
    registered there: a wheel holds libggml.so and libggml.so.0 as two files, and llama_cpp._ggml loads
    the first while libllama links the second (two registries). A symbol looked up through libllama's
    handle comes from libllama's own libggml (dlsym searches a library's dependencies). Windows has one
    ggml.dll, known by name."""
    from llama_cpp import _ggml, llama_cpp

    lib = _ggml.libggml if sys.platform == "win32" else llama_cpp._lib
    lib.ggml_backend_load.argtypes = [ctypes.c_char_p]
    lib.ggml_backend_load.restype = ctypes.c_void_p
    lib.ggml_backend_reg_get_proc_address.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.ggml_backend_reg_get_proc_address.restype = ctypes.c_void_p
    lib.ggml_backend_reg_by_name.argtypes = [ctypes.c_char_p]
    lib.ggml_backend_reg_by_name.restype = ctypes.c_void_p
    return lib


def _no_kernel() -> ModelError:
    return ModelError(
        "This computer's CPU can't run any of llama.cpp's CPU kernels "
        f"(it has: {_cpu_summary()}), so the local model can't run here.",
        "Flynn can still answer through Ollama or a cloud tier: set models.router.tiers in "
        "config.yaml (see the README's configuration), or run Flynn on another computer.",
    )


def _choose(files: list[Path]) -> tuple[Path, tuple[str, ...]]:
    """The best kernels this CPU runs. ggml ranks them by the features the CPU reports; the best one is
    then tried once in a process of its own (a few tokens of the bundled model), because a CPU can
    report what it can't run (AMX in some virtual machines: an illegal instruction at the first
    answer). A kernel that fails is passed over for the next; verdicts are kept in Flynn's cache
    folder, by kernel and CPU, so each is tried once per computer."""
    ranked = [path for score, path in sorted(_scores(files), reverse=True) if score > 0]
    if not ranked:
        raise _no_kernel()
    verdicts_file = Paths.from_env().cache_dir / "cpu-kernels.json"
    try:
        verdicts = json.loads(verdicts_file.read_text("utf-8"))
    except (OSError, ValueError):
        verdicts = {}
    if not isinstance(verdicts, dict):
        verdicts = {}
    cpu = hashlib.sha256(" ".join(sorted(cpu_flags())).encode()).hexdigest()[:16]
    failed: list[str] = []
    tried_now: set[str] = set()
    for path in ranked:
        key = f"{path.name}:{path.stat().st_size}:{cpu}"
        if key not in verdicts:
            tried_now.add(key)
            verdicts[key] = _tried(path)
            with contextlib.suppress(OSError):  # a full disk: tried again next time
                verdicts_file.parent.mkdir(parents=True, exist_ok=True)
                verdicts_file.write_text(json.dumps(verdicts, indent=1), "utf-8")
        if verdicts[key]:
            return path, tuple(failed)
        failed.append(_family(path))
        if key in tried_now:
            log.warning(
                "llama.cpp's '%s' CPU kernels crashed in a test on this CPU (it reports features it "
                "can't run); using the next best. Tested once: %s remembers it.",
                _family(path),
                verdicts_file,
            )
    raise _no_kernel()


def _scores(files: list[Path]) -> list[tuple[int, Path]]:
    """Each kernel library's own score for this CPU (0: it can't run here), as ggml ranks them."""
    import _ctypes

    scored = []
    for path in files:
        try:
            handle = ctypes.CDLL(str(path))
        except OSError:
            continue
        try:
            score = getattr(handle, "ggml_backend_score", None)
            if score is not None:
                score.restype = ctypes.c_int
                scored.append((int(score()), path))
        finally:
            if sys.platform != "win32":
                _ctypes.dlclose(handle._handle)
    return scored


def _tried(path: Path) -> bool:
    """Whether `path`'s kernels answer a few tokens of the bundled model in a process of their own.
    False only when that process dies of a signal (an illegal instruction); when the test itself can't
    run (no bundled model, a damaged file), ggml's ranking stands."""
    from flynn_desktop.providers.model_files import ModelFiles, load_manifests

    manifests = load_manifests()
    if not manifests:
        return True
    try:
        model = ModelFiles(Paths.from_env().cache_dir).resolve(next(iter(manifests))).path
    except FlynnError:
        return True
    argv = [*python_command(_TRY), str(path), str(model)]
    try:
        ran = subprocess.run(argv, capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return False
    except OSError:
        return True
    if ran.returncode > 0:
        log.warning("testing %s could not run: %s", path.name, ran.stderr.decode(errors="replace")[-300:])
    return ran.returncode >= 0


# Run by _tried in a process of its own (sys.argv: the kernel library, the model).
_TRY = (
    "import sys\n"
    "from flynn_desktop.providers.llama_backends import try_kernels\n"
    "try_kernels(sys.argv[1], sys.argv[2])\n"
)


def try_kernels(kernel: str, model_path: str) -> None:
    """Load one kernel library and the model, and decode a prompt and a few single tokens (the batched
    and the one-token paths of the kernels): a crash here is the verdict. Exits 3 when ggml refuses the
    library."""
    import llama_cpp
    from llama_cpp._internals import LlamaBatch, LlamaContext, LlamaModel
    from llama_cpp._logger import set_verbose

    set_verbose(False)
    if not _libggml().ggml_backend_load(kernel.encode()):
        raise SystemExit(3)
    llama_cpp.llama_backend_init()
    model = LlamaModel(path_model=model_path, params=llama_cpp.llama_model_default_params(), verbose=False)
    params = llama_cpp.llama_context_default_params()
    params.n_ctx, params.n_batch, params.n_threads, params.n_threads_batch = 256, 64, 1, 1
    ctx = LlamaContext(model=model, params=params, verbose=False)
    batch = LlamaBatch(n_tokens=64, embd=0, n_seq_max=1, verbose=False)
    text = b"The capital of France is a city of many bridges, museums and cafes."
    prompt = model.tokenize(text, True, False)
    batch.set_batch(prompt, 0, False)
    ctx.decode(batch)
    for i in range(4):
        batch.set_batch([prompt[-1]], len(prompt) + i, False)
        ctx.decode(batch)


def _features(lib: Any, reg: int) -> tuple[str, ...]:
    """What the loaded kernels use (AVX2, AVX512, ...), from ggml's own list."""
    get_features = lib.ggml_backend_reg_get_proc_address(reg, b"ggml_backend_get_features")
    if not get_features:
        return ()

    class Feature(ctypes.Structure):
        _fields_ = [("name", ctypes.c_char_p), ("value", ctypes.c_char_p)]

    listed = ctypes.CFUNCTYPE(ctypes.POINTER(Feature), ctypes.c_void_p)(get_features)(reg)
    features, i = [], 0
    while listed[i].name:
        name, value = listed[i].name.decode(), (listed[i].value or b"").decode()
        if value == "1" and name not in ("SSE3", "SSSE3", "LLAMAFILE", "REPACK", "OPENMP"):
            features.append(name)
        i += 1
    return tuple(features)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """This CPU's feature flags (Linux; empty where /proc/cpuinfo is not)."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _cpu_summary() -> str:
    flags = cpu_flags()
    if not flags:
        return "features unknown"
    return " ".join(f for f in ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f") if f in flags) or (
        "none of SSE4.2, AVX, AVX2"
    )
