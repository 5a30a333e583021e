"""One pydantic schema for config.yaml. Keys are the seed's camelCase keys (TUNING.md).

Unknown keys are errors, so a typo is reported with its file and line instead of being ignored.

Longer than 400 lines on purpose: the whole file's schema, section by section in the order of
config.yaml, so every key and its bounds are read in one place.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

BUNDLED_MODEL = "smollm2-135m"
DEFAULT_MODEL = f"local:{BUNDLED_MODEL}"


class Section(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", allow_inf_nan=False
    )


# Bounds no real value comes near: a model's context, an answer's length. A model's own limits (the
# context it was trained for) are checked when it loads, and the CPU's when the config is read.
MAX_CONTEXT = 1 << 20  # tokens; the longest contexts of 2026's models are about a million
MAX_ANSWER = 1 << 17  # tokens in one answer
HOUR_MS, DAY_S, YEAR_S = 3_600_000, 86_400, 366 * 86_400
CPUS = os.cpu_count() or 1


def _threads(value: int | None) -> int | None:
    if value is not None and value > CPUS:
        raise ValueError(
            f"{value} threads, but this computer has {CPUS} CPU threads; use at most {CPUS} (unset: all)"
        )
    return value


class LocalProviderConfig(Section):
    model: str = Field(BUNDLED_MODEL, description="a bundled model's name, or the path of a GGUF file")
    context_length: int | None = Field(
        None, ge=256, le=MAX_CONTEXT, description="n_ctx; default: the model manifest's"
    )
    threads: Annotated[int | None, AfterValidator(_threads)] = Field(
        None, ge=1, description="CPU threads; default: the number of cores"
    )
    chat_format: str | None = Field(None, description="llama.cpp chat format; default: the GGUF's template")
    max_loaded: int = Field(
        1, ge=1, le=8, description="local models held in memory at once; the others load on demand"
    )
    parallel: int = Field(
        4,
        ge=1,
        le=32,
        description="conversations answered at once, in shared batches (slots, each with its KV cache), "
        "besides one slot for autocomplete",
    )
    state_cache_mb: int = Field(
        512,
        ge=0,
        le=65536,
        description="MB of RAM for conversations saved from their slots (4x that on disk); 0: not saved",
    )

    def gguf_path(self) -> Path | None:
        """The GGUF file the user named, or None when `model` names a bundled model."""
        return gguf_path_of(self.model)


def gguf_path_of(model: str) -> Path | None:
    """A local model name that is a file path (`local:/models/x.gguf`), or None for a bundled name."""
    if model.endswith(".gguf") or "/" in model or "\\" in model:
        return Path(model).expanduser()
    return None


class RemoteConfig(Section):
    timeout_ms: int = Field(
        60000, ge=100, le=3_600_000, description="how long to wait for an answer to start"
    )
    context_length: int | None = Field(
        None, ge=256, le=MAX_CONTEXT, description="the model's context window, in tokens"
    )


class AnthropicConfig(RemoteConfig):
    api_key: str | None = Field(None, description="e.g. ${ANTHROPIC_API_KEY}")
    base_url: str | None = None


class OllamaConfig(RemoteConfig):
    host: str = "http://127.0.0.1:11434"


class OpenAICompatConfig(RemoteConfig):
    base_url: str | None = Field(None, description="empty: api.openai.com")
    api_key: str | None = None
    models: list[str] = []


class ProvidersConfig(Section):
    """`local`, `anthropic` and `ollama`; any other name is an OpenAI-compatible endpoint."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")
    __pydantic_extra__: dict[str, OpenAICompatConfig] = Field(init=False)

    local: LocalProviderConfig = LocalProviderConfig()
    anthropic: AnthropicConfig | None = None
    ollama: OllamaConfig | None = None

    def compatible(self) -> dict[str, OpenAICompatConfig]:
        return dict(self.__pydantic_extra__ or {})


class RetryConfig(Section):
    max_attempts: int = Field(3, ge=1, le=20)
    initial_delay_ms: int = Field(1000, ge=0, le=HOUR_MS)
    multiplier: float = Field(2.0, ge=1.0, le=10.0)
    max_delay_ms: int = Field(30000, ge=0, le=HOUR_MS)
    non_retryable_patterns: list[str] = ["invalid_api_key", "permission_denied"]


def _check_model_name(value: str) -> str:
    if ":" not in value:
        raise ValueError(f"'{value}' is not a model name; write it as provider:model, e.g. {DEFAULT_MODEL}")
    return value


ModelName = Annotated[str, AfterValidator(_check_model_name)]


class CooldownConfig(Section):
    after_failures: int = Field(3, ge=1, le=1000, description="consecutive failures before a model rests")
    seconds: float = Field(60, ge=0, le=DAY_S, description="how long it rests; the router skips it meanwhile")


class RouterConfig(Section):
    tiers: dict[str, ModelName] = {
        "fast": DEFAULT_MODEL,
        "default": DEFAULT_MODEL,
        "complex": DEFAULT_MODEL,
        "local": DEFAULT_MODEL,
    }
    tier_fallbacks: dict[str, list[ModelName]] = {}
    fallback_chain: list[ModelName] = []
    retry: RetryConfig = RetryConfig()
    cooldown: CooldownConfig = CooldownConfig()
    auto: bool = Field(False, description="send each message to the fast, default or complex tier by need")
    classifier: Literal["heuristic", "model"] = Field(
        "heuristic", description="how auto decides: a quick local rule, or the classification tier"
    )

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, v: dict[str, str]) -> dict[str, str]:
        if "default" not in v:
            raise ValueError("the 'default' tier is required")
        return v


class Price(Section):
    input: float = Field(0.0, ge=0, le=10_000, description="USD per million input tokens")
    output: float = Field(0.0, ge=0, le=10_000, description="USD per million output tokens")


class CatalogConfig(Section):
    url: str | None = Field(
        None, description="an https URL of a newer catalog.yaml (`flynn models catalog --update`)"
    )


class DownloadsConfig(Section):
    parallel: int = Field(1, ge=1, le=4, description="model downloads at once; the others wait")


class ModelsConfig(Section):
    providers: ProvidersConfig = ProvidersConfig()
    router: RouterConfig = RouterConfig()
    catalog: CatalogConfig = CatalogConfig()
    downloads: DownloadsConfig = DownloadsConfig()
    prices: dict[ModelName, Price] = Field({}, description="per provider:model, for `flynn usage`")

    def price_table(self) -> dict[str, tuple[float, float]]:
        return {name: (p.input, p.output) for name, p in self.prices.items()}

    @model_validator(mode="after")
    def _tiers_follow_the_local_model(self) -> ModelsConfig:
        """Without explicit tiers, every tier is the local model that models.providers.local names."""
        if "tiers" not in self.router.model_fields_set:
            local = f"local:{self.providers.local.model}"
            self.router.tiers = dict.fromkeys(self.router.tiers, local)
            self.router.model_fields_set.discard("tiers")  # still the defaults, not the user's choice
        return self


class CompactionConfig(Section):
    enabled: bool = Field(True, description="summarise older turns; off: leave the oldest out instead")
    threshold_pct: int = Field(75, ge=10, le=100)
    keep_turns: int = Field(6, ge=0, le=1000)
    summary_max_tokens: int = Field(2048, ge=16, le=MAX_ANSWER)
    importance_threshold: float = Field(0.8, ge=0, le=1)


class DelegationConfig(Section):
    tiers: dict[str, str] = {
        "compaction": "fast",
        "memoryExtraction": "fast",
        "classification": "default",
        "toolSummarization": "default",
        "complexReasoning": "complex",
    }


class SamplingConfig(Section):
    """Sampling beyond the temperature; unset keys keep the model's recommended values (models/*.yaml)."""

    top_p: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=0, le=1 << 20)
    min_p: float | None = Field(None, ge=0, le=1)
    repeat_penalty: float | None = Field(None, ge=0, le=10, description="1 is none; 1.1 discourages loops")
    repeat_last_n: int | None = Field(None, ge=0, le=MAX_CONTEXT, description="tokens the penalty looks back")
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    seed: int | None = Field(None, ge=0, le=(1 << 32) - 1, description="a fixed seed repeats answers")


class AgentConfig(Section):
    system_prompt: str = (
        "You are Flynn, a helpful assistant running on the user's own computer. Answer clearly and concisely."
    )
    max_tokens: int = Field(512, ge=1, le=MAX_ANSWER, description="the longest answer, in tokens")
    temperature: float = Field(0.2, ge=0, le=2)
    sampling: SamplingConfig = SamplingConfig()
    compaction: CompactionConfig = CompactionConfig()
    delegation: DelegationConfig = DelegationConfig()


class AgentsConfig(Section):
    default: AgentConfig = AgentConfig()


class PromptConfig(Section):
    context_depth: Literal["minimal", "normal", "detailed", "debug"] = "normal"


class ExecutorConfig(Section):
    default_timeout_ms: int = Field(30000, ge=1, le=DAY_S * 1000)
    max_output_bytes: int = Field(51200, ge=1, le=1 << 30)
    max_steps: int = Field(8, ge=1, le=100, description="model passes with tools in one answer")
    max_parallel: int = Field(4, ge=1, le=64, description="calls of one step run at once")
    # How long a call waits for the user's answer (Allow / Deny) before it is denied.
    approval_timeout_ms: int = Field(300_000, ge=1, le=DAY_S * 1000)


class ToolCacheConfig(Section):
    enabled: bool = False
    ttl: int = Field(300, ge=0, le=YEAR_S)
    max_size: int = Field(1000, ge=0, le=10_000_000)
    exclude_patterns: list[str] = []


class ToolFilesConfig(Section):
    """read_file, list_dir and search_files work inside these folders only (none: the tools are off)."""

    roots: list[str] = []


class ToolSwitch(Section):
    enabled: bool = False


class RunCommandConfig(ToolSwitch):
    """run_command: always asks, runs in its own process group with these limits, in a scratch folder."""

    cpu_seconds: int = Field(30, ge=1, le=DAY_S)
    memory_mb: int = Field(512, ge=16, le=1 << 20)
    file_size_mb: int = Field(64, ge=1, le=1 << 20)


ToolDecision = Literal["allow", "ask", "deny"]


class ToolsConfig(Section):
    """Flynn's own tools (the window, `flynn ask`, the WebSocket's chat.send) and who may run them:
    deny wins, then allow, then ask, else `default`. Patterns are globs on tool names
    (`mcp__github__*`)."""

    enabled: bool = True
    allow: list[str] = ["current_time", "memory_search"]
    ask: list[str] = []
    deny: list[str] = []
    default: ToolDecision = "ask"
    executor: ExecutorConfig = ExecutorConfig()
    cache: ToolCacheConfig = ToolCacheConfig()
    files: ToolFilesConfig = ToolFilesConfig()
    fetch_url: ToolSwitch = ToolSwitch()
    run_command: RunCommandConfig = RunCommandConfig()
    sandbox: dict[str, object] = {}


class ChunkingConfig(Section):
    max_chunk_size: int = Field(512, ge=16, le=1 << 20)
    chunk_overlap: int = Field(50, ge=0, le=1 << 20)
    min_chunk_size: int = Field(128, ge=0, le=1 << 20)

    @model_validator(mode="after")
    def _sizes(self) -> ChunkingConfig:
        if self.chunk_overlap >= self.max_chunk_size:
            raise ValueError(
                f"chunkOverlap ({self.chunk_overlap}) must be smaller than "
                f"maxChunkSize ({self.max_chunk_size})"
            )
        if self.min_chunk_size > self.max_chunk_size:
            raise ValueError(
                f"minChunkSize ({self.min_chunk_size}) must not be larger than maxChunkSize "
                f"({self.max_chunk_size})"
            )
        return self


class EmbeddingCacheConfig(Section):
    enabled: bool = True
    ttl: int = Field(86400, ge=0, le=YEAR_S)


class EmbeddingsConfig(Section):
    provider: str = Field(
        "local", description="local (the bundled model), ollama, or a configured OpenAI-compatible provider"
    )
    model: str | None = Field(
        None, description="the embedding model for ollama or an OpenAI-compatible provider"
    )
    cache: EmbeddingCacheConfig = EmbeddingCacheConfig()
    chunking: ChunkingConfig = ChunkingConfig()


class SearchConfig(Section):
    vector_weight: float = Field(0.7, ge=0, le=1)
    keyword_weight: float = Field(0.3, ge=0, le=1)
    limit: int = Field(10, ge=1, le=1000)
    threshold: float = Field(0.5, ge=0, le=1)


class ChromaConfig(Section):
    url: str | None = Field(None, description="a Chroma server (http://host:port); unset: in the data folder")


class ExtractionConfig(Section):
    enabled: bool = Field(True, description="remember facts the user mentions, via the memoryExtraction tier")


class MemoryConfig(Section):
    enabled: bool = True
    embeddings: EmbeddingsConfig = EmbeddingsConfig()
    search: SearchConfig = SearchConfig()
    chroma: ChromaConfig = ChromaConfig()
    extraction: ExtractionConfig = ExtractionConfig()


def _duration(value: str | int) -> str:
    text = str(value).strip()
    if not re.fullmatch(r"\d+(\.\d+)?\s*[smhdw]?", text):
        raise ValueError(f"'{value}' is not a duration; write seconds, or e.g. 30d, 12h, 90m")
    if duration_seconds(text) > 100 * YEAR_S:
        raise ValueError(f"'{value}' is longer than a hundred years; use 0 for forever")
    return text


Duration = Annotated[str | int, AfterValidator(_duration)]
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": DAY_S, "w": 7 * DAY_S}


def duration_seconds(text: str | int) -> float:
    """'30d', '12h', '90m', '45s' or plain seconds, in seconds."""
    t = str(text).strip()
    unit = t[-1] if t and t[-1] in _UNITS else "s"
    return float(t.rstrip("smhdw").strip() or 0) * _UNITS[unit]


class SessionsConfig(Section):
    ttl: Duration = Field(
        "0", description="how long to keep a session after its last message, e.g. '30d'; '0': forever"
    )
    max_sessions: int = Field(0, ge=0, le=10_000_000, description="0 means no limit")
    trash_days: float = Field(
        30, ge=0, le=3650, description="days a deleted or pruned session can be restored"
    )
    prune_memories: bool = Field(
        False, description="when a session leaves the trash for good, forget the memories it made too"
    )
    url: str | None = Field(
        None,
        description="a database server for the sessions, shared by your computers: "
        "postgresql+psycopg://user:password@host/database; unset: sessions.db in the data folder",
    )

    @field_validator("url")
    @classmethod
    def _database_url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^(postgresql(\+psycopg)?|sqlite)://", v):
            raise ValueError("write postgresql+psycopg://user:password@host/database (or leave it unset)")
        return v


class GatewayLockConfig(Section):
    enabled: bool = False


class LaneQueueConfig(Section):
    max_depth: int = Field(10, ge=1, le=10_000)
    request_timeout_ms: int = Field(30000, ge=1, le=HOUR_MS)


class GatewayConfig(Section):
    enabled: bool = True
    host: str = Field("127.0.0.1", description="the address to bind; anything but loopback needs allowRemote")
    port: int = Field(18800, ge=0, le=65535)
    allow_remote: bool = False
    allowed_origins: list[str] = Field([], description="web origins allowed to call the gateway")
    history: bool = Field(True, description="save gateway conversations as sessions")
    learn: bool = Field(
        False, description="keep notes and facts from gateway chats, as the window does (recall is always on)"
    )
    max_connections: int = Field(50, ge=1, le=10_000)
    lock: GatewayLockConfig = GatewayLockConfig()
    lane_queue: LaneQueueConfig = LaneQueueConfig()


class LoggingConfig(Section):
    level: Literal["debug", "info", "warn", "error"] = "info"
    max_bytes: int = Field(2_000_000, ge=10_000, le=1 << 31, description="the log's size before it rotates")
    backups: int = Field(3, ge=0, le=100, description="how many rotated logs are kept")


class PrunerConfig(Section):
    enabled: bool = True
    interval: Duration = Field("1h", description="how often sessions.ttl and maxSessions are applied")


HealthCheckName = Literal["gateway", "model", "memory", "disk", "channels"]


class HeartbeatConfig(Section):
    enabled: bool = True
    interval: Duration = Field("5m", description="how often the checks run")
    checks: list[HealthCheckName] = Field(
        ["gateway", "model", "memory", "disk"], description="'channels' is accepted and has nothing to check"
    )
    disk_min_free_mb: int = Field(500, ge=0, le=1 << 30, description="warn below this much free disk")


class BackupConfig(Section):
    enabled: bool = Field(False, description="make a backup of sessions, memory and config on a schedule")
    interval: Duration = Field("1d", description="how often: a backup is made when the last is this old")
    keep: int = Field(7, ge=1, le=10_000, description="how many scheduled backups are kept (oldest go first)")
    folder: str | None = Field(None, description="where they go; default: the data folder's backups/")


class MaintenanceConfig(Section):
    enabled: bool = Field(True, description="run `flynn maintenance` by itself when Flynn is idle")
    interval: Duration = Field("1d", description="at most this often")
    idle: Duration = Field("10m", description="only after this long without an answer in flight")


class AutomationConfig(Section):
    """The seed's automation section: the pruner, the heartbeat, backups and maintenance run in the
    Runtime of a Flynn that stays (window, serve). Other keys are accepted for what comes."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")
    session_pruner: PrunerConfig = PrunerConfig()
    heartbeat: HeartbeatConfig = HeartbeatConfig()
    backup: BackupConfig = BackupConfig()
    maintenance: MaintenanceConfig = MaintenanceConfig()


class TrayConfig(Section):
    enabled: bool = Field(
        True, description="show Flynn's icon in the system tray (where the desktop has one)"
    )
    close_to_tray: bool = Field(
        True, description="closing the window keeps Flynn (and its gateway) running in the tray"
    )
    notifications: bool = Field(
        True, description="tell from the tray what happened while the window was hidden"
    )


class WindowConfig(Section):
    theme: Literal["system", "light", "dark"] = Field("system", description="the window's colours")


class Config(Section):
    models: ModelsConfig = ModelsConfig()
    agents: AgentsConfig = AgentsConfig()
    prompt: PromptConfig = PromptConfig()
    tools: ToolsConfig = ToolsConfig()
    memory: MemoryConfig = MemoryConfig()
    sessions: SessionsConfig = SessionsConfig()
    gateway: GatewayConfig = GatewayConfig()
    automation: AutomationConfig = AutomationConfig()
    logging: LoggingConfig = LoggingConfig()
    tray: TrayConfig = TrayConfig()
    window: WindowConfig = WindowConfig()

    @property
    def agent(self) -> AgentConfig:
        return self.agents.default
