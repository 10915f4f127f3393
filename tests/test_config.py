"""Config: defaults, YAML parsing, line-numbered errors, env overrides, prices."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from tandem.config import (
    Config,
    ConfigError,
    ModelConfig,
    Price,
    RouteConfig,
    default_config,
    load_config,
    parse_config,
)

FULL = """\
server:
  host: 0.0.0.0
  port: 9000
  workers: 2
  log_level: debug
auth:
  mode: keys
  admin_key_env: MY_ADMIN_KEY
store:
  url: sqlite:///tmp/tandem.db
  ledger_batch_size: 250
privacy:
  default_policy: local-only
  entities: [email, phone]
  log_prompts: true
models:
  - name: gpt-4o-mini
    provider: openai
    api_key_env: OPENAI_API_KEY
    price: {input: 0.15, output: 0.6}
    context_window: 128000
    capabilities: [chat, tools, json, vision]
    privacy: public
    quality: 0.8
    latency_ms: 600
  - name: azure-gpt
    provider: openai_compatible
    model: gpt-4o
    base_url: https://res.openai.azure.com/openai/deployments/gpt4o
    api_key_env: AZURE_OPENAI_KEY
    privacy: trusted
    timeouts:
      connect: 5
      first_byte: 30
      idle: 20
      total: 120
    options:
      auth_header: api-key
      query: {api-version: "2024-06-01"}
  - name: local
    provider: llama_cpp
    privacy: local
    max_concurrency: 1
    capabilities: [chat, completions, embeddings]
routes:
  - name: smart
    candidates: [local, gpt-4o-mini, azure-gpt]
    objective: cheapest
    min_quality: 0.7
    privacy: redact
  - name: best
    candidates: [gpt-4o-mini, azure-gpt]
    objective: quality
    max_cost: 0.01
    fallback: false
"""

MINIMAL = """\
models:
  - name: a
    provider: fake
"""


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "tandem.yaml")
    return str(info.value)


# --- defaults ---------------------------------------------------------------


def test_default_config_serves_local_model_as_auto() -> None:
    cfg = default_config()
    local = cfg.model("local")
    assert local is not None
    assert local.provider == "llama_cpp"
    assert local.privacy == "local"
    assert "chat" in local.capabilities
    assert [m.name for m in cfg.models] == ["local"]
    auto = [r for r in cfg.routes if r.name == "auto"]
    assert len(auto) == 1
    assert auto[0].candidates == ["local"]
    assert cfg.server.host == "127.0.0.1"
    assert cfg.auth.mode == "off"


def test_default_config_is_valid_against_its_own_schema() -> None:
    cfg = default_config()
    again = Config.model_validate(cfg.model_dump())
    assert again.models == cfg.models
    assert again.routes == cfg.routes


# --- parsing ----------------------------------------------------------------


def test_full_example_parses() -> None:
    cfg = parse_config(FULL, "full.yaml")
    assert cfg.source == "full.yaml"
    assert cfg.server.port == 9000
    assert cfg.server.host == "0.0.0.0"
    assert cfg.server.workers == 2
    assert cfg.server.log_level == "debug"
    assert cfg.auth.mode == "keys"
    assert cfg.auth.admin_key_env == "MY_ADMIN_KEY"
    assert cfg.store.url == "sqlite:///tmp/tandem.db"
    assert cfg.store.ledger_batch_size == 250
    assert cfg.privacy.default_policy == "local-only"
    assert cfg.privacy.entities == ["email", "phone"]
    assert cfg.privacy.log_prompts is True

    mini = cfg.model("gpt-4o-mini")
    assert mini is not None
    assert mini.price == Price(input=0.15, output=0.6)
    assert mini.context_window == 128000
    assert mini.capabilities == frozenset({"chat", "tools", "json", "vision"})
    assert mini.quality == 0.8
    assert mini.latency_ms == 600
    assert mini.upstream_model == "gpt-4o-mini"

    azure = cfg.model("azure-gpt")
    assert azure is not None
    assert azure.upstream_model == "gpt-4o"
    assert azure.privacy == "trusted"
    assert azure.timeouts.connect == 5
    assert azure.timeouts.first_byte == 30
    assert azure.timeouts.idle == 20
    assert azure.timeouts.total == 120
    assert azure.options == {"auth_header": "api-key", "query": {"api-version": "2024-06-01"}}

    local = cfg.model("local")
    assert local is not None
    assert local.max_concurrency == 1
    # Defaults of fields the file does not set.
    assert local.price == Price(input=0, output=0)
    assert local.context_window == 8192
    assert local.quality == 0.5

    routes = {r.name: r for r in cfg.routes}
    assert routes["smart"].candidates == ["local", "gpt-4o-mini", "azure-gpt"]
    assert routes["smart"].objective == "cheapest"
    assert routes["smart"].min_quality == 0.7
    assert routes["smart"].privacy == "redact"
    assert routes["best"].objective == "quality"
    assert routes["best"].max_cost == 0.01
    assert routes["best"].fallback is False
    # An auto route over every chat model is added when none is configured.
    assert routes["auto"].candidates == ["gpt-4o-mini", "azure-gpt", "local"]
    assert cfg.model("nope") is None


def test_user_auto_route_is_kept() -> None:
    cfg = parse_config(
        MINIMAL + "  - name: b\n    provider: fake\n"
        "routes:\n  - name: auto\n    candidates: [b]\n    objective: fastest\n"
    )
    autos = [r for r in cfg.routes if r.name == "auto"]
    assert len(autos) == 1
    assert autos[0].candidates == ["b"]
    assert autos[0].objective == "fastest"


def test_no_auto_route_without_chat_models() -> None:
    cfg = parse_config("models:\n  - name: e\n    provider: fake\n    capabilities: [embeddings]\n")
    assert cfg.routes == []


def test_minimal_config_and_source_default() -> None:
    cfg = parse_config(MINIMAL)
    assert cfg.source == "<string>"
    assert cfg.models[0].provider == "fake"


def test_config_objects_are_frozen() -> None:
    cfg = parse_config(MINIMAL)
    with pytest.raises(ValidationError, match="frozen"):
        cfg.models[0].name = "other"  # type: ignore[misc]


# --- errors with key path and line ------------------------------------------


def test_bad_price_type_names_path_and_line() -> None:
    msg = error_of(
        "models:\n"  # 1
        "  - name: a\n"  # 2
        "    provider: fake\n"  # 3
        "    price:\n"  # 4
        "      input: cheap\n"  # 5
    )
    assert msg.startswith("config error in tandem.yaml")
    assert "line 5 (models[0].price.input)" in msg
    assert "valid number" in msg


def test_negative_price_rejected() -> None:
    msg = error_of(MINIMAL + "  - name: b\n    provider: fake\n    price: {input: 1, output: -2}\n")
    assert "line 6 (models[1].price.output)" in msg
    assert "greater than or equal to 0" in msg


def test_unknown_key_names_path_and_line() -> None:
    msg = error_of(
        "models:\n"  # 1
        "  - name: a\n"  # 2
        "    provider: fake\n"  # 3
        "  - name: b\n"  # 4
        "    provider: fake\n"  # 5
        "    colour: red\n"  # 6
    )
    assert "line 6 (models[1].colour)" in msg
    assert "Extra inputs are not permitted" in msg


def test_unknown_top_level_key() -> None:
    msg = error_of("servr:\n  port: 1\n" + MINIMAL)
    assert "line 1 (servr)" in msg


def test_unknown_nested_server_key_and_bad_port() -> None:
    msg = error_of("server:\n  port: 99999\n  colour: red\n" + MINIMAL)
    assert "line 2 (server.port)" in msg
    assert "line 3 (server.colour)" in msg


def test_bad_enum_value_in_route() -> None:
    msg = error_of(MINIMAL + "routes:\n  - name: r\n    candidates: [a]\n    objective: random\n")
    assert "line 7 (routes[0].objective)" in msg


def test_duplicate_model_names_rejected_with_line() -> None:
    msg = error_of(MINIMAL + "  - name: a\n    provider: fake\n")
    assert "duplicate model name 'a'" in msg
    assert re.search(r"line \d+", msg)


def test_duplicate_model_names_name_path_and_line() -> None:
    msg = error_of(MINIMAL + "  - name: a\n    provider: fake\n")
    assert "line 4 (models[1].name)" in msg


def test_route_with_unknown_candidate_rejected_with_line() -> None:
    msg = error_of(MINIMAL + "routes:\n  - name: r\n    candidates: [a, ghost]\n")
    assert "route 'r': unknown candidate model 'ghost'" in msg
    assert re.search(r"line \d+", msg)


def test_route_with_unknown_candidate_names_path_and_line() -> None:
    msg = error_of(MINIMAL + "routes:\n  - name: r\n    candidates: [a, ghost]\n")
    assert "line 6 (routes[0].candidates" in msg


def test_route_name_clashing_with_model() -> None:
    msg = error_of(MINIMAL + "routes:\n  - name: a\n    candidates: [a]\n")
    assert "route name 'a' is already used" in msg


def test_route_needs_candidates() -> None:
    msg = error_of(MINIMAL + "routes:\n  - name: r\n    candidates: []\n")
    assert "line 6 (routes[0].candidates)" in msg


def test_invalid_yaml_reports_line() -> None:
    msg = error_of(
        "models:\n"  # 1
        "  - name: a\n"  # 2
        "    provider: fake\n"  # 3
        "   bad: [\n"  # 4
    )
    assert msg.startswith("config error in tandem.yaml, line 4")
    assert "not valid YAML" in msg


def test_invalid_yaml_chains_the_parser_error() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("models: [unclosed\n")
    assert info.value.__cause__ is not None


def test_top_level_must_be_mapping() -> None:
    msg = error_of("- a\n- b\n")
    assert "line 1" in msg
    assert "mapping" in msg


def test_empty_file_needs_models() -> None:
    msg = error_of("")
    assert "(models)" in msg
    assert "Field required" in msg


def test_models_must_not_be_empty() -> None:
    msg = error_of("models: []\n")
    assert "line 1 (models)" in msg


def test_several_errors_reported_together() -> None:
    msg = error_of(
        "models:\n"  # 1
        "  - name: a\n"  # 2
        "    provider: fake\n"  # 3
        "    quality: 2\n"  # 4
        "    context_window: 0\n"  # 5
    )
    assert "line 4 (models[0].quality)" in msg
    assert "line 5 (models[0].context_window)" in msg


@pytest.mark.parametrize(
    "value",
    ["sk-abc123DEF456ghi789jkl", "sk-proj-AbCdEf0123456789", "Bearer xyz", "sk-ant-api03-xxxx"],
)
def test_api_key_env_that_looks_like_a_key_is_rejected(value: str) -> None:
    msg = error_of(
        "models:\n"  # 1
        "  - name: a\n"  # 2
        "    provider: openai\n"  # 3
        f"    api_key_env: '{value}'\n"  # 4
    )
    assert "line 4 (models[0].api_key_env)" in msg
    assert "NAME of an environment variable" in msg
    # The error must not echo the secret back (it would land in logs).
    assert value not in msg


def test_empty_api_key_env_rejected() -> None:
    msg = error_of("models:\n  - name: a\n    provider: openai\n    api_key_env: ''\n")
    assert "models[0].api_key_env" in msg


def test_valid_api_key_env_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = parse_config("models:\n  - name: a\n    provider: openai\n    api_key_env: MY_KEY_1\n")
    m = cfg.models[0]
    monkeypatch.delenv("MY_KEY_1", raising=False)
    assert m.api_key() is None
    monkeypatch.setenv("MY_KEY_1", "sk-live")
    assert m.api_key() == "sk-live"
    assert ModelConfig(name="x", provider="fake").api_key() is None


# --- load_config ------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in ("TANDEM_CONFIG", "TANDEM_DATABASE_URL", "TANDEM_REDIS_URL"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_load_config_without_file_is_default(clean_env: pytest.MonkeyPatch) -> None:
    cfg = load_config()
    assert cfg.source == "<embedded default>"
    assert [m.name for m in cfg.models] == ["local"]
    assert cfg.store.url is None


def test_load_config_from_path(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    path = tmp_path / "tandem.yaml"
    path.write_text(FULL, encoding="utf-8")
    cfg = load_config(path)
    assert cfg.source == str(path)
    assert cfg.server.port == 9000
    assert cfg.store.url == "sqlite:///tmp/tandem.db"


def test_load_config_from_tandem_config_env(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    path = tmp_path / "from-env.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    clean_env.setenv("TANDEM_CONFIG", str(path))
    cfg = load_config()
    assert cfg.source == str(path)
    assert [m.name for m in cfg.models] == ["a"]


def test_explicit_path_wins_over_env(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text(MINIMAL, encoding="utf-8")
    clean_env.setenv("TANDEM_CONFIG", str(tmp_path / "missing.yaml"))
    assert load_config(explicit).source == str(explicit)


def test_store_urls_from_env(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    path = tmp_path / "tandem.yaml"
    path.write_text(FULL, encoding="utf-8")
    clean_env.setenv("TANDEM_DATABASE_URL", "postgresql://db.internal/tandem")
    clean_env.setenv("TANDEM_REDIS_URL", "redis://cache:6379/0")
    cfg = load_config(path)
    assert cfg.store.url == "postgresql://db.internal/tandem"
    assert cfg.store.redis_url == "redis://cache:6379/0"
    # Other store settings from the file survive the override.
    assert cfg.store.ledger_batch_size == 250


def test_redis_url_override_alone(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TANDEM_REDIS_URL", "redis://r/1")
    cfg = load_config()
    assert cfg.store.redis_url == "redis://r/1"
    assert cfg.store.url is None


def test_database_url_override_on_default(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TANDEM_DATABASE_URL", "sqlite:///x.db")
    cfg = load_config()
    assert cfg.store.url == "sqlite:///x.db"
    assert cfg.store.redis_url is None
    assert cfg.model("local") is not None


def test_missing_file_is_config_error(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="cannot read config file") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_missing_file_from_env_is_config_error(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TANDEM_CONFIG", str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config()


def test_invalid_file_error_names_the_file(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("models:\n  - name: a\n    provider: fake\n    price: {input: x}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"config error in {path}" in str(info.value)
    assert "line 4 (models[0].price.input)" in str(info.value)


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


# --- prices -----------------------------------------------------------------


def test_price_cost_arithmetic() -> None:
    price = Price(input=2.5, output=10)
    assert price.cost(1_000_000, 0) == pytest.approx(2.5)
    assert price.cost(0, 1_000_000) == pytest.approx(10.0)
    assert price.cost(1000, 500) == pytest.approx((1000 * 2.5 + 500 * 10) / 1e6)
    assert price.cost(1000, 500) == pytest.approx(0.0075)
    assert price.cost(0, 0) == 0
    assert Price().cost(123456, 654321) == 0


def test_price_rejects_negative() -> None:
    with pytest.raises(ValueError):
        Price(input=-1)


def test_route_config_defaults() -> None:
    r = RouteConfig(name="r", candidates=["a"])
    assert r.objective == "cheapest"
    assert r.fallback is True
    assert r.min_quality is None
    assert r.max_cost is None


def test_serve_refuses_a_bad_provider_option_in_one_line(tmp_path: Path) -> None:
    """Provider options are typed per provider kind; tandem serve checks them before starting."""
    from click.testing import CliRunner

    from tandem.cli.serve import serve

    path = tmp_path / "bad.yaml"
    path.write_text(
        "models:\n  - name: up\n    provider: openai\n    base_url: http://127.0.0.1:1/v1\n"
        "    options: {http_client: curl}\n"
    )
    result = CliRunner().invoke(serve, ["--config", str(path)])
    assert result.exit_code == 1
    assert "model 'up': options.http_client: Input should be 'loop', 'reqwest' or 'aiohttp'" in result.output
    assert "Traceback" not in result.output
