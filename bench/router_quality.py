"""Reproduce the learned router's quality numbers on the shared routing data.

    .venv/bin/python bench/router_quality.py [--data DIR] [--folds 5] [--seed 0] [--json OUT]
        [--split-seeds 1 2 3]

Data: ``DIR/mmlu/*.csv`` (one file per MMLU subject) and
``DIR/gsm8k_responses.csv``; default ``../shared/data/routing`` next to the
repository. Without it the script says so and exits 0.

Settings (APGR, CPT(50 %), CPT(80 %) of the strong/weak pair):

- MMLU 50/50 and GSM8K 50/50: every file is cut in half (``--seed``), one
  router is trained on all the train halves and tested on each test half;
- unseen MMLU subjects: the MMLU subjects are dealt into ``--folds`` groups;
  each group is held out in turn (trained on the other subjects plus all of
  GSM8K) and the table shows the mean over the folds (and the pooled curve of
  all out-of-fold predictions);

each for the tandem predictor, a TF-IDF + logistic regression baseline and a
random router (mean of 20 draws). The tandem predictor also learns from the
GSM8K file's answer columns at training time (soft labels, see
``tandem.routing.learned.teacher``); the baselines read prompts and scores only. ``--split-seeds`` adds the tandem 50/50
numbers for other split seeds: a test half of ~660 GSM8K prompts moves APGR
by about +-0.02 from one seed to the next, so one seed alone proves little.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from tandem.routing.learned import (  # noqa: E402
    QualityPredictor,
    RoutingData,
    concat,
    evaluate_scores,
    group_folds,
    read_many,
    split_by_group,
)

Fit = Callable[[RoutingData], Callable[[list[str]], np.ndarray]]


def fit_tandem(train: RoutingData, seed: int = 0) -> Callable[[list[str]], np.ndarray]:
    """The tandem predictor."""
    qp = QualityPredictor.train(train, seed=seed)
    return lambda prompts: qp.predict_many(prompts)


def fit_tfidf(train: RoutingData, seed: int = 0) -> Callable[[list[str]], np.ndarray]:
    """Baseline: word TF-IDF and one logistic regression per model."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(sublinear_tf=True, min_df=2)
    x = vec.fit_transform(train.prompts)
    clfs = []
    for m in train.models:
        y = train.column(m)
        keep = ~np.isnan(y)
        clfs.append(LogisticRegression(max_iter=2000, random_state=seed).fit(x[keep], y[keep] >= 0.5))
    return lambda prompts: np.column_stack([c.predict_proba(vec.transform(prompts))[:, 1] for c in clfs])


def fit_random(train: RoutingData, seed: int = 0) -> Callable[[list[str]], np.ndarray]:
    """Random router: uniform noise as every model's prediction."""
    rng = np.random.default_rng(seed)
    return lambda prompts: rng.random((len(prompts), len(train.models)))


def _metrics(data: RoutingData, predicted: np.ndarray) -> tuple[float, float, float]:
    pair = evaluate_scores(data, predicted, data.models)[0]
    return pair.apgr, pair.cpt50, pair.cpt80


def _load(data_dir: Path) -> tuple[RoutingData, RoutingData, np.ndarray]:
    """MMLU alone, MMLU plus GSM8K, and which rows of the latter are MMLU."""
    mmlu = read_many([data_dir / "mmlu"])
    data = concat([mmlu, read_many([data_dir / "gsm8k_responses.csv"])])
    return mmlu, data, np.array([g in set(mmlu.groups) for g in data.groups])


def _split(
    data: RoutingData, is_mmlu: np.ndarray, fit: Fit, seed: int, split_seed: int
) -> dict[str, tuple[float, float, float]]:
    """One 50/50 setting: train on the train halves, metrics on each test half."""
    train_idx, test_idx = split_by_group(data, seed=split_seed)
    test = data.subset(test_idx)
    pred = fit(data.subset(train_idx), seed)(test.prompts)
    out = {}
    for label, mask in (("MMLU 50/50", is_mmlu[test_idx]), ("GSM8K 50/50", ~is_mmlu[test_idx])):
        rows = np.flatnonzero(mask)
        out[label] = _metrics(test.subset(rows), pred[rows])
    return out


def split_seeds(data_dir: Path, seeds: list[int]) -> dict[int, dict[str, tuple[float, float, float]]]:
    """The tandem 50/50 settings for other split seeds: is the main seed a lucky one?"""
    _, data, is_mmlu = _load(data_dir)
    return {s: _split(data, is_mmlu, fit_tandem, s, s) for s in seeds}


def run(data_dir: Path, folds: int, seed: int, random_draws: int = 20) -> dict[str, dict[str, list[float]]]:
    """All settings for all routers: ``{setting: {router: [apgr, cpt50, cpt80]}}``."""
    mmlu, data, is_mmlu = _load(data_dir)
    routers: dict[str, Fit] = {"tandem": fit_tandem, "tfidf+lr": fit_tfidf, "random": fit_random}
    out: dict[str, dict[str, list[float]]] = {
        "MMLU 50/50": {},
        "GSM8K 50/50": {},
        f"unseen MMLU subjects ({folds} folds, mean)": {},
        "unseen MMLU subjects (pooled)": {},
    }
    held = group_folds(mmlu.groups, k=folds, seed=seed)
    for name, fit in routers.items():
        t0 = time.perf_counter()
        draws = random_draws if name == "random" else 1
        split_res: dict[str, list[tuple[float, float, float]]] = {"MMLU 50/50": [], "GSM8K 50/50": []}
        unseen: list[tuple[float, float, float]] = []
        pooled: list[tuple[float, float, float]] = []
        for d in range(draws):
            for label, metrics in _split(data, is_mmlu, fit, seed + d, seed).items():
                split_res[label].append(metrics)
            oof = np.zeros((len(data), len(data.models)))
            per_fold = []
            for fold in held:
                out_rows = np.flatnonzero(np.isin(data.groups, fold))
                in_rows = np.flatnonzero(~np.isin(data.groups, fold))
                predict = fit(data.subset(in_rows), seed + d)
                held_data = data.subset(out_rows)
                oof[out_rows] = predict(held_data.prompts)
                per_fold.append(_metrics(held_data, oof[out_rows]))
            unseen.append(tuple(np.mean(per_fold, axis=0)))  # type: ignore[arg-type]
            mm = np.flatnonzero(is_mmlu)
            pooled.append(_metrics(data.subset(mm), oof[mm]))
            print(f"  {name}: folds APGR {[round(f[0], 3) for f in per_fold]}", file=sys.stderr)
        for label, vals in split_res.items():
            out[label][name] = np.mean(vals, axis=0).tolist()
        out[f"unseen MMLU subjects ({folds} folds, mean)"][name] = np.mean(unseen, axis=0).tolist()
        out["unseen MMLU subjects (pooled)"][name] = np.mean(pooled, axis=0).tolist()
        print(f"  {name}: {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    return out


def markdown(results: dict[str, dict[str, list[float]]]) -> str:
    """The results as a markdown table."""
    lines = ["| setting | router | APGR | CPT(50%) | CPT(80%) |", "|---|---|---:|---:|---:|"]
    for setting, rows in results.items():
        for router, (a, c50, c80) in rows.items():
            lines.append(f"| {setting} | {router} | {a:.3f} | {c50:.1%} | {c80:.1%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "routing")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write the numbers as JSON here")
    ap.add_argument(
        "--split-seeds",
        type=int,
        nargs="*",
        default=[],
        metavar="SEED",
        help="also show the tandem 50/50 APGR for these other split seeds",
    )
    args = ap.parse_args(argv)
    if not (args.data / "mmlu").is_dir() or not (args.data / "gsm8k_responses.csv").is_file():
        print(f"routing data not found at {args.data} (need mmlu/ and gsm8k_responses.csv); nothing to measure.")
        return 0
    results = run(args.data, args.folds, args.seed)
    print(markdown(results))
    if args.split_seeds:
        print()
        print("| split seed | MMLU 50/50 APGR | GSM8K 50/50 APGR |")
        print("|---:|---:|---:|")
        for s, res in split_seeds(args.data, args.split_seeds).items():
            print(f"| {s} | {res['MMLU 50/50'][0]:.3f} | {res['GSM8K 50/50'][0]:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
