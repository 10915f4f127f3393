"""``tandem privacy scan`` and ``tandem privacy eval`` on small fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tandem.cli import main
from tandem.privacy import PrivacyGuard
from tandem.privacy.evaluation import evaluate, load_labeled

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLE = FIXTURES / "sample.json"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "pii" / "synth_dataset_v2.json"


def run(*args: str) -> str:
    result = CliRunner().invoke(main, ["privacy", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_scan_json_one_line_per_record_in_order() -> None:
    lines = run("scan", str(SAMPLE)).splitlines()
    records = json.loads(SAMPLE.read_text())
    assert len(lines) == len(records)
    first = json.loads(lines[0])
    assert first == {
        "spans": [
            {"entity_type": "EMAIL_ADDRESS", "start": 12, "end": 32},
            {"entity_type": "PHONE_NUMBER", "start": 45, "end": 62},
        ]
    }
    assert json.loads(lines[6]) == {"spans": []}
    for line, record in zip(lines, records, strict=True):
        for span in json.loads(line)["spans"]:
            assert 0 <= span["start"] < span["end"] <= len(record["full_text"])


def test_scan_jsonl_by_extension_and_by_option(tmp_path: Path) -> None:
    out = run("scan", str(FIXTURES / "sample.jsonl")).splitlines()
    assert [len(json.loads(x)["spans"]) for x in out] == [1, 0, 2]
    copy = tmp_path / "texts.txt"
    copy.write_text((FIXTURES / "sample.jsonl").read_text())
    assert run("scan", "--format", "jsonl", str(copy)).splitlines() == out


def test_scan_entities_option() -> None:
    lines = run("scan", "--entities", "CREDIT_CARD", str(SAMPLE)).splitlines()
    types = {s["entity_type"] for line in lines for s in json.loads(line)["spans"]}
    assert types == {"CREDIT_CARD"}


def test_scan_rejects_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"nope": 1}\n')
    result = CliRunner().invoke(main, ["privacy", "scan", str(bad)])
    assert result.exit_code != 0 and "expected" in result.output
    result = CliRunner().invoke(main, ["privacy", "scan", "--entities", "NOPE", str(SAMPLE)])
    assert result.exit_code != 0 and "unknown entity types" in result.output


def test_eval_json() -> None:
    scores = json.loads(run("eval", "--json", str(SAMPLE)))
    assert scores["CREDIT_CARD"] == {"precision": 1.0, "recall": 1.0, "support": 1, "predicted": 1}
    # The second address (kim@example.net) is not labeled: a false alarm.
    assert scores["EMAIL_ADDRESS"]["precision"] == 0.5
    assert scores["EMAIL_ADDRESS"]["recall"] == 1.0
    assert scores["PHONE_NUMBER"] == {"precision": 1.0, "recall": 1.0, "support": 2, "predicted": 2}
    assert scores["URL"]["support"] == 1 and scores["URL"]["recall"] == 1.0  # gold DOMAIN_NAME
    assert "PERSON" not in scores  # not detected without --ner


def test_eval_table() -> None:
    out = run("eval", "--examples", "2", str(SAMPLE))
    header, *rows = out.splitlines()
    assert header.split() == ["entity", "precision", "recall", "support", "predicted"]
    email = next(r for r in rows if r.startswith("EMAIL_ADDRESS"))
    assert email.split()[1:] == ["0.500", "1.000", "1", "2"]
    assert "false alarm: 'kim@example.net'" in out


@pytest.mark.skipif(not SHARED.exists(), reason="shared evaluation data not available")
def test_targets_on_shared_dataset() -> None:
    scores = evaluate(load_labeled(SHARED), PrivacyGuard().scan, PrivacyGuard().entities)
    for etype in ("EMAIL_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS"):
        assert scores[etype].recall >= 0.99, etype
        assert scores[etype].precision >= 0.97, etype
    assert scores["PHONE_NUMBER"].recall >= 0.90
