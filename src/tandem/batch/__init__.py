"""Prompts over tables: ``tandem batch`` (CSV, JSONL, Parquet) and ``tandem sql`` (DuckDB).

Every row's request goes through :class:`tandem.gateway.Gateway` in-process,
so batch traffic shares routing, retries, the privacy guard, budgets and the
ledger with live traffic. The pieces:

- :mod:`.template` renders ``{column}`` templates per row;
- :mod:`.schema` turns a JSON schema into typed output columns;
- :mod:`.estimate` prices a run before it starts;
- :mod:`.checkpoint` and :mod:`.runner` run it resumably (never paying
  twice for a row) and write the output in input order;
- :mod:`.sql` registers ``llm()``/``llm_json()`` on a DuckDB connection.
"""

from __future__ import annotations

from tandem.batch.job import RequestSpec
from tandem.batch.runner import BatchPlan, RunStats, checkpoint_path_for, plan, run, write_output
from tandem.batch.schema import OutputSchema
from tandem.batch.template import PromptTemplate

__all__ = [
    "BatchPlan",
    "OutputSchema",
    "PromptTemplate",
    "RequestSpec",
    "RunStats",
    "checkpoint_path_for",
    "plan",
    "run",
    "write_output",
]
