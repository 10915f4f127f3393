# ruff: noqa: RUF001  (real typography in the non-ASCII sample: dashes, quotes, CJK commas)
"""Speed of the privacy guard's scan, in microseconds per kilobyte of text.

Run: ``python bench/privacy_speed.py [--repeat N] [--ner] [--json]``

Texts of several kinds and sizes are built from varied paragraphs with
fresh random entity values, and ("dataset entities") from the labeled
sentences of ``shared/data/pii/synth_dataset_v2.json`` that hold a pattern
entity (many phone layouts, IBANs, SSNs, URLs; some non-ASCII names, which
take the slower non-ASCII path), or the repo's small fixture when that file
is absent. Then ``PrivacyGuard.scan`` is timed; the table reports the median over repeats,
as wall time and as the thread's CPU time (the second is steadier when other
processes share the machine). The target is at most 50 µs/KB with the
default detectors. The header says whether the scanner's modules ran
compiled (mypyc, as ``scripts/setup.sh`` installs them) or as Python
(``TANDEM_PURE_PYTHON=1``, or sources edited since the build).

Each text is scanned once before it is timed: the phone validator compiles
a group of number patterns (by first digit and length) the first time a
candidate needs it, once per process. That one-time cost is reported
separately, as the first scan of a fresh guard. No scan result is cached,
so repeating a text (the 100 KB dataset text repeats its ~24 KB of
sentences) does not make it faster.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tandem.privacy import BUILD, PrivacyGuard

PROSE = [
    "The quarterly report shows revenue grew 12% to $4.5 million in 2023, driven by strong demand "
    "in the enterprise segment. Please summarize the key points and the outlook for next year.",
    "Our team met on March 3rd and agreed on three priorities: reduce churn, ship the new "
    "onboarding flow, and migrate the billing service. Draft a short update for the leadership "
    "meeting.",
    "Can you explain the difference between a process and a thread? I read that Python 3.12 "
    "changed how the GIL works, and I'd like to know whether that matters for a web server "
    "with 8 workers.",
    "Write a friendly reminder to the volunteers that the charity run starts at 9:30 on Saturday, "
    "that parking is limited, and that water stations are every 2.5 km along the route.",
    "Translate the following paragraph into French, keeping the tone formal: the committee thanks "
    "all participants for their contributions and will publish the final minutes next week.",
    "The recipe needs 250 g of flour, 2 eggs, 120 ml of milk and a pinch of salt. What can I use "
    "instead of eggs, and how does that change the baking time of about 25 minutes?",
]
CODE = [
    "def load_config(path: str) -> dict:\n    with open(path) as fh:\n"
    "        data = yaml.safe_load(fh)\n"
    '    data.setdefault("timeout", 30)\n    return data\n\n',
    'for i, row in enumerate(rows[:100]):\n    if row["status"] == "failed":\n'
    '        logger.warning("row %d failed: %s", i, row["error"])\n\n',
    "SELECT user_id, COUNT(*) AS n FROM orders WHERE created_at >= '2024-01-01'\n"
    "GROUP BY user_id HAVING COUNT(*) > 5 ORDER BY n DESC LIMIT 20;\n\n",
    '{"model": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 512, "messages": [{"role": "user", '
    '"content": "Summarize the changelog for version 2.4.1"}]}\n',
]
NON_ASCII = [
    "Die Lieferung für Müller & Söhne verzögert sich um drei Tage – bitte informieren Sie den "
    "Kunden und bieten Sie eine Gutschrift über 15 € an. Größere Aufträge haben Vorrang.",
    "Le comité se réunira à 14 h pour étudier le budget prévisionnel ; merci d’envoyer vos "
    "remarques avant jeudi. « Priorité » aux dossiers déjà instruits.",
    "请帮我总结这篇文章的要点，并用三句话说明作者的主要观点。文章讨论了城市交通的未来发展。",
]


def _entity_paragraph(rng: random.Random) -> str:
    """A support-ticket paragraph with three or four fresh entity values."""
    name = rng.choice(["Anna", "Jonas", "Priya", "Luis", "Mei"])
    user = f"{name.lower()}.{rng.choice(['meyer', 'santos', 'kaur', 'li'])}{rng.randint(1, 99)}"
    phone = f"+1 ({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}"
    card = _card(rng)
    ip = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return (
        f"Hi, this is {name}. My order #{rng.randint(10000, 99999)} never arrived and the tracking "
        f"page just spins. You can reach me at {user}@example.com or {phone}. I paid with the card "
        f"{card}. The app logged me out from {ip} twice yesterday, which is odd. "
        "Could you check what happened and let me know when I can expect a refund? Thanks a lot. "
    )


_ROOT = Path(__file__).resolve().parents[1]
_DATASETS = (
    _ROOT.parent / "shared" / "data" / "pii" / "synth_dataset_v2.json",
    _ROOT / "tests" / "privacy" / "fixtures" / "sample.json",
)
# Labeled types the default detectors find (DOMAIN_NAME values are URLs).
_PATTERN_TYPES = {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS", "DOMAIN_NAME"}


def _dataset_sentences() -> list[str]:
    """Labeled sentences with at least one pattern entity."""
    path = next(p for p in _DATASETS if p.exists())
    records = json.loads(path.read_text(encoding="utf-8"))
    return [r["full_text"] for r in records if any(s["entity_type"] in _PATTERN_TYPES for s in r["spans"])]


def _card(rng: random.Random) -> str:
    digits = [4] + [rng.randint(0, 9) for _ in range(14)]
    total = sum(d if i % 2 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(reversed(digits)))
    digits.append((10 - total % 10) % 10)
    s = "".join(map(str, digits))
    return " ".join(s[i : i + 4] for i in range(0, 16, 4))


def build(kind: str, size: int, rng: random.Random) -> str:
    """A text of ``kind`` of about ``size`` bytes (characters)."""
    parts: list[str] = []
    pool: list[str] = []
    total = 0
    while total < size:
        n = len(parts)
        if kind == "prose":
            p = rng.choice(PROSE) + " "
        elif kind == "code":
            p = rng.choice(CODE)
        elif kind == "non-ascii":
            p = rng.choice(NON_ASCII) + " "
        elif kind == "sparse entities":
            # One ticket paragraph (4 entities) after every 5 prose ones:
            # about 3 entities per KB.
            p = _entity_paragraph(rng) if n % 6 == 5 else rng.choice(PROSE) + " "
        elif kind == "dense entities":
            p = _entity_paragraph(rng)
        elif kind == "dataset entities":
            if not pool:
                pool = _dataset_sentences()
                rng.shuffle(pool)
            p = pool.pop() + "\n"  # 100 KB repeats the ~24 KB pool; nothing is cached
        else:
            raise ValueError(kind)
        parts.append(p)
        total += len(p)
    return "".join(parts)[:size]


def measure(scan: Callable[[str], object], text: str, repeat: int) -> tuple[float, float]:
    """Median wall and CPU microseconds per KB of ``scan(text)``."""
    walls: list[float] = []
    cpus: list[float] = []
    kb = len(text.encode("utf-8")) / 1024
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.thread_time()
        scan(text)
        cpus.append((time.thread_time() - c0) * 1e6 / kb)
        walls.append((time.perf_counter() - w0) * 1e6 / kb)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=31)
    parser.add_argument("--ner", action="store_true", help="include the spaCy NER engine")
    parser.add_argument("--json", action="store_true", help="print JSON rows, not a table")
    args = parser.parse_args()
    guard = PrivacyGuard(ner=args.ner)
    start = time.perf_counter()
    guard.scan(build("dataset entities", 10 * 1024, random.Random(1)))
    first_scan_ms = (time.perf_counter() - start) * 1e3
    rng = random.Random(1234)
    kinds = ["prose", "code", "non-ascii", "sparse entities", "dense entities", "dataset entities"]
    sizes = [1024, 10 * 1024, 100 * 1024] if not args.ner else [1024, 10 * 1024]
    rows = []
    for kind in kinds:
        for size in sizes:
            text = build(kind, size, rng)
            guard.scan(text)  # warm-up: first-use tables, regex caches
            repeat = args.repeat if size <= 10 * 1024 else max(5, args.repeat // 3)
            wall, cpu = measure(guard.scan, text, repeat)
            found = len(guard.scan(text))
            rows.append(
                {
                    "text": kind,
                    "kb": size // 1024,
                    "entities": found,
                    "wall_us_per_kb": round(wall, 1),
                    "cpu_us_per_kb": round(cpu, 1),
                }
            )
    # A chat request: 24 short messages (a few with personal data), scanned
    # as the gateway does, all texts of the request in one call.
    messages = [rng.choice(PROSE) for _ in range(20)] + [_entity_paragraph(rng) for _ in range(4)]
    rng.shuffle(messages)
    size = sum(len(m) for m in messages)
    wall, cpu = measure(lambda _: guard.contains_pii(messages), "x" * size, args.repeat)
    found = sum(guard.contains_pii(messages).values())
    rows.append({"text": "chat request, 24 messages", "kb": round(size / 1024, 1), "entities": found,
                 "wall_us_per_kb": round(wall, 1), "cpu_us_per_kb": round(cpu, 1)})  # fmt: skip
    if args.json:
        print(json.dumps({"scanner": BUILD.mode, "rows": rows}, indent=2))
        return
    title = "default detectors + spaCy NER" if args.ner else "default detectors"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Privacy guard scan speed ({title}), median µs per KB")
    print(f"({os.cpu_count()} CPUs, load average {load} when finished)")
    print(f"Scanner modules: {BUILD.mode} ({BUILD.reason})")
    print(f"First scan of a fresh guard (10 KB dataset text, compiles phone pattern groups): {first_scan_ms:.0f} ms\n")
    print("| text | size | entities found | wall µs/KB | CPU µs/KB |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['text']} | {r['kb']} KB | {r['entities']} | {r['wall_us_per_kb']} | {r['cpu_us_per_kb']} |")


if __name__ == "__main__":
    main()
