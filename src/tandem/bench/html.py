"""The self-contained HTML report: one file, inline SVG plots, no scripts.

Written for a reader who has never seen it: what was run, the findings in
plain words first, then the table, the plots with labeled axes, the routes,
every item, and how each number is computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

from tandem.bench import plots
from tandem.bench.dataset import Item
from tandem.bench.report import Report, fmt_ci, fmt_pct, fmt_s, fmt_score, fmt_usd
from tandem.bench.results import Result

__all__ = ["render_html", "write_html"]

_CSS = """
body{font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1a202c;margin:0;
background:#f7fafc}
main{max-width:1080px;margin:0 auto;padding:24px 32px 64px;background:#fff}
h1{font-size:26px;margin:8px 0 4px}
h2{font-size:19px;margin:32px 0 8px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}
.sub{color:#4a5568;margin:0 0 16px}.note{color:#4a5568;font-size:13px}
.findings{background:#ebf8ff;border-left:4px solid #3182ce;padding:10px 18px;margin:12px 0}
.findings li{margin:4px 0}
table{border-collapse:collapse;width:100%;font-size:13.5px}
th,td{padding:6px 8px;border-bottom:1px solid #e2e8f0;text-align:right;vertical-align:top}
th{background:#edf2f7;font-weight:600}th:first-child,td:first-child,td.l,th.l{text-align:left}
tr.route td:first-child::after{content:" (route)";color:#c05621;font-size:12px}
.front{color:#2f855a;font-weight:600}.bad{color:#c53030}.ok{color:#2f855a}
figure{margin:12px 0}figure svg{width:100%;max-width:860px;height:auto;display:block}
figcaption{color:#4a5568;font-size:13px}
dl{display:grid;grid-template-columns:220px 1fr;gap:4px 12px;font-size:14px}dt{color:#4a5568}dd{margin:0}
code{background:#edf2f7;padding:1px 4px;border-radius:3px;font-size:13px}
details summary{cursor:pointer;color:#2b6cb0}.items td{font-size:12.5px}.items td.l{max-width:380px}
"""


def _figure(svg: str | None, caption: str) -> str:
    if svg is None:
        return (
            "<p class='note'>(Plot not drawn: install matplotlib, e.g. "
            "<code>pip install matplotlib</code>, and rerun to see it.)</p>"
        )
    return f"<figure>{svg}<figcaption>{caption}</figcaption></figure>"


def _table(report: Report) -> str:
    head = (
        "<tr><th class='l'>Model or route</th><th>Score</th><th>95% interval</th>"
        "<th>Cost per 1,000 requests</th><th>Latency p50 / p95</th><th>First token p50</th>"
        "<th>Output tokens/s</th><th>Errors</th></tr>"
    )
    rows = []
    for t in report.targets:
        star = (
            " <span class='front' title='on the quality/cost Pareto frontier'>&#9733;</span>"
            if t.on_cost_frontier
            else ""
        )
        cost = fmt_usd(t.cost_per_1k)
        if t.hardware_cost_usd and t.api_cost_usd == 0:
            cost += "<br><span class='note'>hardware time</span>"
        err = f"<span class='bad'>{fmt_pct(t.error_rate)}</span>" if t.errors else "0%"
        unscored = f"<br><span class='note'>{t.unscored} unscored</span>" if t.unscored > 0 else ""
        rows.append(
            f"<tr class='{t.kind}'><td>{escape(t.target)}{star}</td>"
            f"<td>{fmt_score(t.score, t.binary)}{unscored}</td><td>{fmt_ci(t)}</td><td>{cost}</td>"
            f"<td>{fmt_s(t.latency_p50)} / {fmt_s(t.latency_p95)}</td><td>{fmt_s(t.ttft_p50)}</td>"
            f"<td>{'n/a' if t.tokens_per_s is None else f'{t.tokens_per_s:.1f}'}</td>"
            f"<td>{err} <span class='note'>({t.errors}/{t.requests})</span></td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _routes(report: Report) -> str:
    if not report.routes:
        return ""
    parts = [
        "<h2>Routes</h2><p>A route lets tandem choose a model per request. Each route is compared "
        "with always sending every request to its cheapest candidate and always to its strongest "
        "(best-scoring) candidate.</p>"
    ]
    for r in report.routes:
        parts.append(f"<h3>Route <code>{escape(r.route)}</code> over {escape(', '.join(r.candidates))}</h3>")
        if r.apgr is None:
            parts.append(f"<p class='note'>No curve: {escape(r.note)}.</p>")
            continue
        cap = (
            f"Left: the share of the quality gap between always-{escape(r.weak or '')} and "
            f"always-{escape(r.strong or '')} that the route recovers (PGR), as more calls go to "
            f"{escape(r.strong or '')}; the shaded area is the APGR ({r.apgr:.2f}; random routing scores "
            f"0.50, higher is better). Curve from: {escape(r.method)}. Right: cost per 1,000 requests "
            "against score; the dotted line is what randomly mixing the two models would give."
        )
        binary = all(t.binary for t in report.targets if t.target in (r.route, r.weak, r.strong))
        parts.append(_figure(plots.route_svg(r, binary), cap))
    return "".join(parts)


def _items(report: Report, results: Sequence[Result], items: Sequence[Item], limit: int = 300) -> str:
    names = [t.target for t in report.targets]
    by = {(r.item_id, r.target): r for r in results}
    head = (
        "<tr><th class='l'>Item</th><th class='l'>Prompt</th><th class='l'>Reference</th>"
        + "".join(f"<th>{escape(n)}</th>" for n in names)
        + "</tr>"
    )
    rows = []
    for it in items[:limit]:
        cells = []
        for n in names:
            r = by.get((it.id, n))
            if r is None:
                cells.append("<td class='note'>-</td>")
                continue
            tip = escape((r.reply or r.error_message or "")[:600], quote=True)
            if r.error:
                cells.append(f"<td class='bad' title='{tip}'>error</td>")
            elif r.score is None:
                cells.append(f"<td class='note' title='{tip}'>unscored</td>")
            elif r.score in (0.0, 1.0):
                mark = "<span class='ok'>&#10003;</span>" if r.score else "<span class='bad'>&#10007;</span>"
                cells.append(f"<td title='{tip}'>{mark}</td>")
            else:
                cells.append(f"<td title='{tip}'>{r.score:.2f}</td>")
        ref = "" if it.reference is None else str(it.reference)
        rows.append(
            f"<tr><td class='l'>{escape(it.id)}</td><td class='l'>{escape(it.prompt[:160])}"
            f"{'...' if len(it.prompt) > 160 else ''}</td><td class='l'>{escape(ref[:60])}</td>"
            f"{''.join(cells)}</tr>"
        )
    more = (
        f"<p class='note'>First {limit} of {len(items)} items; all are in items.csv.</p>" if len(items) > limit else ""
    )
    return (
        f"<details><summary>Show every item ({len(items)}); hover a cell to read the reply</summary>"
        f"<table class='items'>{head}{''.join(rows)}</table>{more}</details>"
    )


def _what(report: Report) -> str:
    d, s = report.dataset, report.settings
    rows = [
        (
            "Dataset",
            f"{escape(d['name'])} <span class='note'>({escape(d['source'])}, "
            f"{d['items']} items, sha256 {escape(d['digest'][:12])})</span>",
        ),
        ("Scorer", f"<code>{escape(s['scorer'])}</code>"),
        ("Models and routes", escape(", ".join(t.target for t in report.targets))),
        (
            "Requests",
            f"max_tokens {s['max_tokens']}, temperature {s['temperature']}, streamed, "
            f"targets one after another, up to {s['concurrency']} calls at once per target (never more "
            "than a model's max_concurrency)",
        ),
        (
            "Hardware cost",
            f"${s['hardware_cost_per_hour']:.2f} per hour, charged to models priced $0 "
            "(local models) for the time they were busy",
        ),
        ("Configuration", escape(s.get("config", ""))),
    ]
    if report.judge:
        rows.append(
            (
                "Judge",
                f"{escape(report.judge['model'])}, cost {fmt_usd(report.judge['cost_usd'])} "
                "(not included in the models' costs)",
            )
        )
    rows.append(("Files", "<br>".join(f"<code>{escape(v)}</code>" for v in report.files.values())))
    return "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


_METHOD = """
<ul>
<li><b>Score</b>: mean over items. Pass/fail scorers give 1 or 0 per item, shown as a percentage; graded
scorers (judge, custom) give 0 to 1. A failed call scores 0. The 95% interval is Wilson's for pass/fail
scores and Student's t otherwise: if the benchmark were repeated on new items like these, the true score
would fall inside it 95% of the time.</li>
<li><b>Cost per 1,000 requests</b>: from the configured price per million tokens and the tokens each call
used, averaged and multiplied by 1,000. Models priced $0 (local models) are charged the hardware cost per
hour for the time they were busy answering.</li>
<li><b>Latency</b>: seconds from sending a request to its last token (p50 = median, p95 = 95th percentile);
<b>first token</b>: seconds until the first token arrived (streamed). Both over successful calls.</li>
<li><b>Output tokens/s</b>: completion tokens divided by the time spent generating them (latency minus
time to first token).</li>
<li><b>Errors</b>: calls that failed after the gateway's retries and fallbacks.</li>
<li><b>Pareto frontier</b> (&#9733;): the models and routes that no other one beats on both quality and
cost (or latency). Everything off the frontier is dominated.</li>
<li><b>PGR</b> (performance gap recovered) = (route score - cheapest's score) / (strongest's score -
cheapest's score). <b>APGR</b>: the area under PGR as the share of calls sent to the strongest model goes
from 0% to 100%.</li>
</ul>
"""


def render_html(report: Report, results: Sequence[Result], items: Sequence[Item]) -> str:
    """The report as one HTML document."""
    models = sum(t.kind == "model" for t in report.targets)
    routes = len(report.targets) - models
    d = report.dataset
    sub = (
        f"{d['items']} items from <b>{escape(d['name'])}</b> &middot; scored with "
        f"<code>{escape(report.settings['scorer'])}</code> &middot; {models} model(s)"
        f"{f', {routes} route(s)' if routes else ''} &middot; {escape(report.created)}"
    )
    findings = "".join(f"<li>{escape(f)}</li>" for f in report.findings)
    binary = all(t.binary for t in report.targets if t.score is not None)
    score_word = "share of items answered correctly" if binary else "average score from 0 to 1"
    body = [
        f"<h1>{escape(report.title)}</h1><p class='sub'>{sub}</p>",
        f"<h2>In short</h2><ul class='findings'>{findings}</ul>",
        "<h2>Results</h2>",
        _table(report),
        f"<p class='note'>Score: {score_word}. &#9733; = on the quality/cost Pareto frontier. "
        "Definitions are at the end of the page.</p>",
        "<h2>Quality against cost</h2>",
        _figure(
            plots.scatter_svg(report.targets, "cost", report.dataset.get("chance")),
            "Each point is a model or route; up is better, left is cheaper. Vertical bars are 95% "
            "intervals. The dashed line joins the Pareto frontier: the best score available at each "
            "price.",
        ),
        "<h2>Quality against latency</h2>",
        _figure(
            plots.scatter_svg(report.targets, "latency", report.dataset.get("chance")),
            "Up is better, left is faster (median seconds per complete reply).",
        ),
        _routes(report),
        "<h2>Every item</h2>",
        _items(report, results, items),
        "<h2>What was run</h2>",
        _what(report),
        "<h2>How the numbers are computed</h2>",
        _METHOD,
    ]
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(report.title)}"
        f"</title><meta name='viewport' content='width=device-width,initial-scale=1'><style>{_CSS}</style>"
        f"</head><body><main>{''.join(body)}</main></body></html>"
    )


def write_html(report: Report, results: Sequence[Result], items: Sequence[Item], path: Path) -> Path:
    """Write the report to ``path``."""
    report.files["report.html"] = str(path)
    path.write_text(render_html(report, results, items), encoding="utf-8")
    return path
