"""``tandem keys`` and ``tandem usage`` through click's CliRunner."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tandem.cli.keys import keys, usage
from tandem.config import load_config
from tandem.errors import AuthenticationError
from tandem.store import open_store

from .conftest import _reset_pg, make_call


@pytest.fixture
def config_file(db_url: str, tmp_path: Path) -> str:
    if db_url.startswith("postgresql"):
        asyncio.run(_reset_pg(db_url))
    path = tmp_path / "tandem.yaml"
    path.write_text(
        "auth:\n  mode: keys\n  admin_key_env: TANDEM_TEST_ADMIN_KEY\n"
        f"store:\n  url: {db_url}\n"
        "models:\n  - name: m1\n    provider: fake\n",
        encoding="utf-8",
    )
    return str(path)


def _invoke(command: object, args: list[str]) -> str:
    result = CliRunner().invoke(command, args, catch_exceptions=False)  # type: ignore[arg-type]
    assert result.exit_code == 0, result.output
    return result.output


def _record_usage(config_file: str, secret: str, costs: list[float]) -> None:
    async def go() -> None:
        store = open_store(load_config(config_file))
        await store.start()
        info = await store.authenticate(secret)
        for cost in costs:
            call = make_call(info, cost=cost, tokens=3)
            await store.admit(call, cost)
            store.settle(call)
        await store.aclose()

    asyncio.run(go())


def _authenticates(config_file: str, secret: str) -> bool:
    async def go() -> bool:
        store = open_store(load_config(config_file), coordination="shared")
        await store.start()
        try:
            await store.authenticate(secret)
            return True
        except AuthenticationError:
            return False
        finally:
            await store.aclose()

    return asyncio.run(go())


def test_keys_create_list_update_revoke(config_file: str) -> None:
    out = _invoke(
        keys,
        [
            "create",
            "--name",
            "ci-bot",
            "--team",
            "infra",
            "--model",
            "m1",
            "--budget-month",
            "20",
            "--rpm",
            "30",
            "--expires",
            "30d",
            "--config",
            config_file,
        ],
    )
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("tk-")
    prefix = secret[:11]
    assert _authenticates(config_file, secret)

    listing = _invoke(keys, ["list", "--config", config_file])
    assert "ci-bot" in listing and prefix in listing and secret not in listing
    data = json.loads(_invoke(keys, ["list", "--format", "json", "--config", config_file]))
    assert data[0]["budget_month_usd"] == 20.0 and data[0]["allowed_models"] == ["m1"]
    assert "secret_hash" not in data[0]

    _invoke(
        keys,
        ["update", prefix, "--rpm", "90", "--clear", "budget_month_usd", "--config", config_file],
    )
    data = json.loads(_invoke(keys, ["list", "--format", "json", "--config", config_file]))
    assert data[0]["rpm_limit"] == 90 and data[0]["budget_month_usd"] is None

    _invoke(keys, ["revoke", prefix, "--config", config_file])
    assert not _authenticates(config_file, secret)
    assert "ci-bot" not in _invoke(keys, ["list", "--config", config_file])
    assert "ci-bot" in _invoke(keys, ["list", "--all", "--config", config_file])


def test_keys_errors_are_clean(config_file: str) -> None:
    result = CliRunner().invoke(keys, ["revoke", "tk-nope-nope", "--config", config_file])
    assert result.exit_code != 0 and "no such key" in result.output
    result = CliRunner().invoke(keys, ["create", "--name", "x", "--budget-day", "-5", "--config", config_file])
    assert result.exit_code != 0 and "budget_day_usd" in result.output


def test_usage_command(config_file: str) -> None:
    out = _invoke(keys, ["create", "--name", "alpha", "--config", config_file])
    secret_a = out.strip().splitlines()[-1]
    out = _invoke(keys, ["create", "--name", "beta", "--config", config_file])
    secret_b = out.strip().splitlines()[-1]
    _record_usage(config_file, secret_a, [0.5, 0.25])
    _record_usage(config_file, secret_b, [2.0])

    table = _invoke(usage, ["--by", "key", "--since", "24h", "--config", config_file])
    assert "alpha" in table and "beta" in table and "0.75" in table

    rows = list(
        csv.DictReader(io.StringIO(_invoke(usage, ["--by", "model", "--format", "csv", "--config", config_file])))
    )
    assert rows == [{**rows[0], "model": "m1", "requests": "3", "cost_usd": "2.75"}]

    data = json.loads(
        _invoke(
            usage,
            ["--by", "day", "--key", secret_a[:11], "--format", "json", "--config", config_file],
        )
    )
    assert len(data) == 1 and data[0]["cost_usd"] == 0.75 and data[0]["requests"] == 2

    bad = CliRunner().invoke(usage, ["--since", "yesterday-ish", "--config", config_file])
    assert bad.exit_code != 0 and "since" in bad.output
