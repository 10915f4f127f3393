"""One typed configuration: a YAML file plus a few environment variables.

The file is validated at start; an error names the bad key and its line::

    config error in tandem.yaml, line 7 (models[0].price.input):
      Input should be a valid number

Secrets are never in the file: a model names the environment variable that
holds its key (``api_key_env``). Clients can never set an upstream URL or
key; those come from here only.

With no file at all, :func:`default_config` serves the bundled
SmolLM2-135M-Instruct as model ``local``, reachable as route ``auto`` too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "AuthConfig",
    "CascadeConfig",
    "Config",
    "ConfigError",
    "ModelConfig",
    "Price",
    "PrivacyConfig",
    "RouteConfig",
    "ServerConfig",
    "StoreConfig",
    "Timeouts",
    "default_config",
    "default_data_dir",
    "load_config",
]

PrivacyTier = Literal["local", "trusted", "public"]
Capability = Literal["chat", "completions", "tools", "json", "vision", "embeddings", "logprobs"]
PrivacyAction = Literal["allow", "redact", "local-only", "block"]


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(_Strict):
    """USD per million tokens."""

    input: float = Field(0.0, ge=0)
    output: float = Field(0.0, ge=0)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """The USD cost of one call with this usage."""
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1_000_000


class Timeouts(_Strict):
    """Seconds. ``first_byte`` bounds the wait for the first byte of the reply,
    ``idle`` the gap between two streamed chunks, ``total`` the whole call."""

    connect: float = Field(10.0, gt=0)
    first_byte: float = Field(120.0, gt=0)
    total: float = Field(600.0, gt=0)
    idle: float = Field(60.0, gt=0)


class ModelConfig(_Strict):
    """One deployment of a model behind one provider."""

    name: str = Field(min_length=1, max_length=200)
    provider: str = Field(min_length=1)
    #: Upstream model id; defaults to ``name``.
    model: str | None = None
    base_url: str | None = None
    #: Name of the environment variable holding the upstream key.
    api_key_env: str | None = None
    price: Price = Price()
    context_window: int = Field(8192, gt=0)
    capabilities: frozenset[Capability] = frozenset({"chat", "completions"})
    privacy: PrivacyTier = "public"
    max_concurrency: int = Field(64, gt=0)
    timeouts: Timeouts = Timeouts()
    #: Prior quality in [0, 1] used by routing objectives without a learned router.
    quality: float = Field(0.5, ge=0, le=1)
    #: Typical latency in ms, for the "fastest" objective before measurements exist.
    latency_ms: float = Field(1000.0, ge=0)
    #: Provider-specific options, validated by the provider itself.
    options: dict[str, Any] = Field(default_factory=dict)

    @property
    def upstream_model(self) -> str:
        """The model id sent upstream."""
        return self.model or self.name

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and (not v or not all(c.isalnum() or c == "_" for c in v)):
            raise ValueError("must be the NAME of an environment variable, not a key")
        return v

    def api_key(self) -> str | None:
        """The upstream key, read from the environment at call time."""
        return os.environ.get(self.api_key_env) if self.api_key_env else None


class CascadeConfig(_Strict):
    """The ``cascade`` block of a route."""

    check: Literal["logprob", "agree", "judge"] = "logprob"
    threshold: float = Field(0.6, ge=0, le=1)
    judge_model: str | None = None
    samples: int = Field(2, ge=1, le=5)
    temperature: float = Field(0.7, ge=0, le=2)


class RouteConfig(_Strict):
    """A named virtual model choosing among candidate models."""

    name: str = Field(min_length=1, max_length=200)
    candidates: list[str] = Field(min_length=1)
    objective: Literal["cheapest", "quality", "fastest", "ordered"] = "cheapest"
    #: For "cheapest": the minimum predicted quality a candidate must reach.
    min_quality: float | None = Field(None, ge=0, le=1)
    #: For "quality": the maximum estimated cost per request in USD.
    max_cost: float | None = Field(None, ge=0)
    #: Path of a trained router file (``tandem router train``).
    router: str | None = None
    #: Try the next candidate when the chosen one fails.
    fallback: bool = True
    #: Privacy policy for requests on this route (overrides the global default).
    privacy: PrivacyAction | None = None
    #: Optional cascade: answer cheap first, escalate when the check fails
    #: (see :mod:`tandem.routing.cascade`).
    cascade: CascadeConfig | None = None


class ServerConfig(_Strict):
    """Where and how the HTTP server listens."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    max_body_bytes: int = Field(4 * 1024 * 1024, gt=0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"


class AuthConfig(_Strict):
    """``off``: no keys (only allowed on loopback); ``keys``: every call needs one."""

    mode: Literal["off", "keys"] = "off"
    admin_key_env: str = "TANDEM_ADMIN_KEY"

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_off(cls, v: object) -> object:
        # YAML 1.1 reads a bare `off` as the boolean false.
        return "off" if v is False else v


class StoreConfig(_Strict):
    """Where keys, budgets and the usage ledger live."""

    #: ``sqlite:///path`` or ``postgresql://...``; default: SQLite in the data dir.
    url: str | None = None
    #: ``redis://...`` for rate limits shared across replicas.
    redis_url: str | None = None
    #: Ledger queue size; past it records go to the spool file.
    ledger_queue_size: int = Field(100_000, gt=0)
    #: Records per ledger transaction. Writing a batch holds the event loop
    #: for a moment: 500 put the p99 of a single client at 2.2 ms, 100 at
    #: 1.5 ms for 5% more CPU per request, 20 at 1.1 ms for 27% more
    #: (``bench/RESULTS.md``).
    ledger_batch_size: int = Field(100, gt=0)
    ledger_flush_seconds: float = Field(0.5, gt=0)


class PrivacyConfig(_Strict):
    """Default privacy policy and detector options."""

    default_policy: PrivacyAction = "redact"
    #: Entity types the guard looks for (None: every built-in detector).
    entities: list[str] | None = None
    #: Store prompts (redacted) in the ledger.
    log_prompts: bool = False


class Config(_Strict):
    """The whole configuration."""

    server: ServerConfig = ServerConfig()
    auth: AuthConfig = AuthConfig()
    store: StoreConfig = StoreConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    models: list[ModelConfig] = Field(min_length=1)
    routes: list[RouteConfig] = Field(default_factory=list)
    #: Where this config came from (for messages), not set by the file.
    source: str = Field("<default>", exclude=True)

    @model_validator(mode="after")
    def _names(self) -> Config:
        # Cross-field errors carry their path as "@a.0.b|message", which
        # parse_config turns into a line number.
        seen: set[str] = set()
        for i, m in enumerate(self.models):
            if m.name in seen:
                raise ValueError(f"@models.{i}.name|duplicate model name {m.name!r}")
            seen.add(m.name)
        for i, r in enumerate(self.routes):
            if r.name in seen:
                raise ValueError(f"@routes.{i}.name|route name {r.name!r} is already used by a model or route")
            seen.add(r.name)
            for j, c in enumerate(r.candidates):
                if c not in {m.name for m in self.models}:
                    raise ValueError(f"@routes.{i}.candidates.{j}|route {r.name!r}: unknown candidate model {c!r}")
        return self

    def model(self, name: str) -> ModelConfig | None:
        """The model called ``name``, or None."""
        for m in self.models:
            if m.name == name:
                return m
        return None

    def with_routes(self) -> Config:
        """This config, plus an ``auto`` route over every chat model if none is defined."""
        if any(r.name == "auto" for r in self.routes) or self.model("auto"):
            return self
        chat = [m.name for m in self.models if "chat" in m.capabilities]
        if not chat:
            return self
        auto = RouteConfig(name="auto", candidates=chat, objective="cheapest")
        return self.model_copy(update={"routes": [*self.routes, auto]})


def default_data_dir() -> Path:
    """``$TANDEM_HOME`` or ``$XDG_DATA_HOME/tandem`` (``~/.local/share/tandem``)."""
    if env := os.environ.get("TANDEM_HOME"):
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tandem"


def default_config() -> Config:
    """The embedded default: the bundled SmolLM2 model as ``local`` (and ``auto``)."""
    local = ModelConfig(
        name="local",
        provider="llama_cpp",
        model="SmolLM2-135M-Instruct",
        context_window=8192,
        capabilities=frozenset({"chat", "completions", "json", "embeddings"}),
        privacy="local",
        max_concurrency=1,
        quality=0.2,
        latency_ms=2000,
    )
    return Config(models=[local], source="<embedded default>").with_routes()


# --- YAML with line numbers -------------------------------------------------


def _compose(text: str, source: str) -> tuple[Any, dict[tuple[str | int, ...], int]]:
    """Parse YAML, returning the data and the 1-based line of every key path."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config error in {source}{where}: not valid YAML") from exc
    lines: dict[tuple[str | int, ...], int] = {}

    def walk(n: yaml.Node | None, path: tuple[str | int, ...]) -> None:
        if n is None:
            return
        lines.setdefault(path, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = k.value
                lines[(*path, key)] = k.start_mark.line + 1
                walk(v, (*path, key))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                walk(v, (*path, i))

    walk(node, ())
    data = yaml.safe_load(text) if node is not None else None
    return data, lines


def _fmt_path(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top>"


def parse_config(text: str, source: str = "<string>") -> Config:
    """Validate YAML text into a :class:`Config`, with line-numbered errors."""
    data, lines = _compose(text, source)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"config error in {source}, line 1: the top level must be a mapping")
    try:
        cfg = Config.model_validate({**data, "source": source})
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
            msg = err["msg"].removeprefix("Value error, ")
            if msg.startswith("@") and "|" in msg:
                path, msg = msg[1:].split("|", 1)
                loc = tuple(int(p) if p.isdigit() else p for p in path.split("."))
            # Find the deepest path that has a line.
            line = None
            for cut in range(len(loc), -1, -1):
                if loc[:cut] in lines:
                    line = lines[loc[:cut]]
                    break
            where = f"line {line} " if line else ""
            parts.append(f"  {where}({_fmt_path(loc)}): {msg}")
        raise ConfigError(f"config error in {source}:\n" + "\n".join(parts)) from None
    return cfg.with_routes()


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load the config file at ``path`` (or ``$TANDEM_CONFIG``), else the default.

    ``TANDEM_DATABASE_URL`` and ``TANDEM_REDIS_URL`` override the store URLs,
    so replicas can share one file and differ by environment.
    """
    path = path or os.environ.get("TANDEM_CONFIG")
    if path:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {p}: {exc.strerror}") from None
        cfg = parse_config(text, str(p))
    else:
        cfg = default_config()
    store_update: dict[str, Any] = {}
    if url := os.environ.get("TANDEM_DATABASE_URL"):
        store_update["url"] = url
    if url := os.environ.get("TANDEM_REDIS_URL"):
        store_update["redis_url"] = url
    if store_update:
        cfg = cfg.model_copy(update={"store": cfg.store.model_copy(update=store_update)})
    return cfg
