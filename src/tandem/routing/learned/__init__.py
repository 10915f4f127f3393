"""The learned quality predictor that routes each prompt to the cheapest good-enough model.

:class:`QualityPredictor` reads a prompt's topic-independent difficulty
features and predicts each model's chance to answer it well; a route sends
the prompt to the strong model when the predicted gain is worth its price.
Train and evaluate it with ``tandem router train`` / ``tandem router eval``
on CSV files of per-prompt scores (see :mod:`tandem.routing.learned.data`);
:mod:`tandem.routing.learned.metrics` has the APGR/CPT metrics.
"""

from tandem.routing.learned.data import RoutingData, concat, read_csv, read_many
from tandem.routing.learned.evaluation import evaluate_scores, group_folds, model_pairs, split_by_group
from tandem.routing.learned.metrics import Curve, PairMetrics, apgr, cpt, pair_metrics, quality_curve
from tandem.routing.learned.predictor import QualityPredictor

__all__ = [
    "Curve",
    "PairMetrics",
    "QualityPredictor",
    "RoutingData",
    "apgr",
    "concat",
    "cpt",
    "evaluate_scores",
    "group_folds",
    "model_pairs",
    "pair_metrics",
    "quality_curve",
    "read_csv",
    "read_many",
    "split_by_group",
]
