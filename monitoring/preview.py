"""The committed Grafana dashboards drawn without Grafana, from a Prometheus's answers to their own queries
(and Alertmanager's alert list from its API, for the same reason: no UI is installable here).

    python -m monitoring.preview --prometheus http://127.0.0.1:9090 --out build/dashboards

Each dashboard JSON in `monitoring/dashboards/` is read as Grafana would: its query variables are resolved
against the Prometheus (`label_values(metric, label)`, all values selected, as the committed dashboards
default to), every panel's `targets[].expr` is substituted and run as a range query, and the panels are
drawn on Grafana's 24-column grid into one HTML page per dashboard (time series as SVG by matplotlib; stat
and bar-gauge panels as HTML, with the panel's unit and value mappings). A query Prometheus refuses, or
one that returns no series, is drawn as an empty panel labelled with the reason and listed in the report,
so a broken query cannot hide behind a pretty page.

Grafana itself is not installable here; this draws what matters for checking the dashboards (which
series each query returns, and their values), not Grafana's pixels.
"""

from __future__ import annotations

import argparse
import html
import io
import json
import math
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from monitoring.dashboards import DASHBOARD_DIR

GRID_COLUMNS = 24
ROW_HEIGHT_PX = 30  # Grafana's height of one grid unit
DRAWN_TYPES = ("timeseries", "stat", "bargauge")
STATUS_OK, STATUS_EMPTY, STATUS_ERROR, STATUS_UNSUPPORTED = "ok", "empty", "error", "unsupported"
_LABEL_VALUES = re.compile(
    r"^\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$"
)
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)|\[\[(\w+)\]\]")
_LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_PALETTE = ("#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#705da0", "#37872d")


class PromQueryError(RuntimeError):
    """Prometheus refused a query (its own error message)."""


@dataclass(frozen=True)
class Series:
    """One series of a range query: its labels and (unix seconds, value) points."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


class MetricsSource(Protocol):
    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]: ...

    def label_values(self, label: str, metric: str) -> list[str]: ...


@dataclass(frozen=True)
class PrometheusApi:
    """A Prometheus HTTP API (`/api/v1/...`)."""

    url: str
    """Base URL, e.g. http://127.0.0.1:9090."""
    timeout_seconds: float = 10.0
    """Per request."""

    def _get(self, path: str, params: Sequence[tuple[str, str]]) -> Any:
        request = f"{self.url.rstrip('/')}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            try:
                body = json.load(error)
            except ValueError:
                raise PromQueryError(f"HTTP {error.code} from {self.url}") from None
        if body.get("status") != "success":
            raise PromQueryError(f"{body.get('errorType', 'error')}: {body.get('error', body)}")
        return body["data"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        data = self._get(
            "query_range",
            [("query", expr), ("start", f"{start:.3f}"), ("end", f"{end:.3f}"), ("step", f"{step:g}")],
        )
        return [
            Series(
                labels=dict(item["metric"]),
                points=tuple((float(t), float(v)) for t, v in item["values"]),
            )
            for item in data["result"]
        ]

    def label_values(self, label: str, metric: str) -> list[str]:
        return sorted(self._get(f"label/{urllib.parse.quote(label)}/values", [("match[]", metric)]))


@dataclass(frozen=True)
class Window:
    """The time range every panel is queried over, and the step of the range queries."""

    start: float
    end: float
    step: float
    scrape_interval: float = 15.0
    """The Prometheus scrape interval, for `$__rate_interval`."""


@dataclass(frozen=True)
class TargetResult:
    ref_id: str
    expr: str
    """The expression as sent, variables substituted."""
    legend_format: str
    series: tuple[Series, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class PanelResult:
    title: str
    type: str
    grid: tuple[int, int, int, int]
    """x, y, w, h on Grafana's grid."""
    field_defaults: Mapping[str, Any] = field(default_factory=dict)
    dashed_ref_ids: frozenset[str] = frozenset()
    targets: tuple[TargetResult, ...] = ()

    @property
    def status(self) -> str:
        if self.type not in DRAWN_TYPES:
            return STATUS_UNSUPPORTED
        if any(t.error for t in self.targets):
            return STATUS_ERROR
        if not any(t.series for t in self.targets):
            return STATUS_EMPTY
        return STATUS_OK

    @property
    def reason(self) -> str:
        """Why the panel is not drawn (empty for a drawn panel)."""
        if self.status == STATUS_UNSUPPORTED:
            return f"panel type {self.type!r} is not drawn by the preview (it draws {', '.join(DRAWN_TYPES)})"
        if self.status == STATUS_ERROR:
            return "; ".join(f"query {t.ref_id} failed: {t.error}" for t in self.targets if t.error)
        if self.status == STATUS_EMPTY:
            if not self.targets:
                return "the panel has no queries"
            return "; ".join(f"query {t.ref_id} returned no series: {t.expr}" for t in self.targets)
        return ""


@dataclass(frozen=True)
class DashboardPreview:
    title: str
    uid: str
    window: Window
    panels: tuple[PanelResult, ...]
    rows: tuple[tuple[str, int], ...] = ()
    """Row headers: (title, y)."""
    variables: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    variable_problems: tuple[str, ...] = ()

    @property
    def problems(self) -> list[str]:
        """One line per panel that is not drawn, and per variable that resolved to nothing."""
        return [f"{self.title}: {problem}" for problem in self.variable_problems] + [
            f"{self.title}: panel {panel.title!r} is {panel.status}: {panel.reason}"
            for panel in self.panels
            if panel.status != STATUS_OK
        ]


def substitute(expr: str, variables: Mapping[str, Sequence[str]], window: Window) -> str:
    """`expr` with Grafana's template variables replaced as Grafana formats them for a Prometheus query:
    one value as is, several as a regex alternation `(a|b)` (the committed variables are multi-value and
    used with `=~`), none as the empty string. `$__interval`, `$__rate_interval` and `$__range` follow
    Grafana's definitions. An unknown variable is an error (it would reach Prometheus as text)."""
    builtins = {
        "__interval": _duration(window.step),
        "__rate_interval": _duration(max(window.step + window.scrape_interval, 4 * window.scrape_interval)),
        "__range": _duration(window.end - window.start),
    }

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3) or match.group(4)
        if name in builtins:
            return builtins[name]
        if name not in variables:
            raise KeyError(f"unknown template variable ${name} in {expr!r}")
        values = list(variables[name])
        if len(values) == 1:
            return _regex_escape(values[0])
        return f"({'|'.join(_regex_escape(v) for v in values)})" if values else ""

    return _VARIABLE.sub(replace, expr)


def _regex_escape(value: str) -> str:
    # Grafana escapes regex metacharacters of multi-value variables; doubled for PromQL's string literal.
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\\\1", value)


def _duration(seconds: float) -> str:
    whole = max(1, round(seconds))
    return f"{whole // 60}m" if whole % 60 == 0 else f"{whole}s"


def resolve_variables(
    dashboard: Mapping[str, Any], source: MetricsSource
) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """Values of the dashboard's query variables (all selected), and a line per variable that got none."""
    values: dict[str, tuple[str, ...]] = {}
    problems: list[str] = []
    for variable in dashboard.get("templating", {}).get("list", []):
        name, kind = variable["name"], variable.get("type")
        if kind == "datasource":
            values[name] = (str(variable.get("query", "prometheus")),)
        elif kind == "query":
            query = variable.get("query")
            query = query.get("query", "") if isinstance(query, dict) else str(query)
            match = _LABEL_VALUES.match(query)
            if match is None:
                problems.append(
                    f"variable ${name}: only label_values(metric, label) is resolved, not {query!r}"
                )
                values[name] = ()
                continue
            metric, label = match.groups()
            try:
                values[name] = tuple(source.label_values(label, metric))
            except PromQueryError as error:
                problems.append(f"variable ${name}: {query} failed: {error}")
                values[name] = ()
                continue
            if not values[name]:
                problems.append(f"variable ${name}: {query} has no values (no {metric} series)")
        elif kind in ("custom", "constant", "textbox"):
            current = variable.get("current", {}).get("value", variable.get("query", ""))
            values[name] = tuple(current) if isinstance(current, list) else (str(current),)
        else:
            problems.append(f"variable ${name}: type {kind!r} is not resolved by the preview")
            values[name] = ()
    return values, problems


def evaluate_dashboard(
    dashboard: Mapping[str, Any], source: MetricsSource, window: Window
) -> DashboardPreview:
    """Every panel's queries run against `source` over `window`."""
    variables, variable_problems = resolve_variables(dashboard, source)
    panels: list[PanelResult] = []
    rows: list[tuple[str, int]] = []
    for panel in _flatten(dashboard.get("panels", [])):
        grid = panel.get("gridPos", {})
        if panel.get("type") == "row":
            rows.append((str(panel.get("title", "")), int(grid.get("y", 0))))
            continue
        field_config = panel.get("fieldConfig", {})
        panels.append(
            PanelResult(
                title=str(panel.get("title", "")),
                type=str(panel.get("type", "")),
                grid=(
                    int(grid.get("x", 0)),
                    int(grid.get("y", 0)),
                    int(grid.get("w", 12)),
                    int(grid.get("h", 8)),
                ),
                field_defaults=field_config.get("defaults", {}),
                dashed_ref_ids=_dashed_ref_ids(field_config.get("overrides", [])),
                targets=tuple(
                    _run_target(target, variables, source, window) for target in panel.get("targets", [])
                ),
            )
        )
    return DashboardPreview(
        title=str(dashboard.get("title", "")),
        uid=str(dashboard.get("uid", "")),
        window=window,
        panels=tuple(panels),
        rows=tuple(rows),
        variables=variables,
        variable_problems=tuple(variable_problems),
    )


def _flatten(panels: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    # A collapsed row carries its panels inside it.
    flat: list[Mapping[str, Any]] = []
    for panel in panels:
        flat.append(panel)
        flat.extend(panel.get("panels", []) if panel.get("type") == "row" else [])
    return flat


def _dashed_ref_ids(overrides: Sequence[Mapping[str, Any]]) -> frozenset[str]:
    return frozenset(
        str(override["matcher"].get("options"))
        for override in overrides
        if override.get("matcher", {}).get("id") == "byFrameRefID"
        and any(
            p.get("id") == "custom.lineStyle" and (p.get("value") or {}).get("fill") == "dash"
            for p in override.get("properties", [])
        )
    )


def _run_target(
    target: Mapping[str, Any], variables: Mapping[str, Sequence[str]], source: MetricsSource, window: Window
) -> TargetResult:
    raw = str(target.get("expr", ""))
    ref_id, legend = str(target.get("refId", "")), str(target.get("legendFormat", ""))
    try:
        expr = substitute(raw, variables, window)
    except KeyError as error:
        return TargetResult(ref_id, raw, legend, error=str(error.args[0]))
    if not expr.strip():
        return TargetResult(ref_id, expr, legend, error="the query is empty")
    try:
        series = source.query_range(expr, window.start, window.end, window.step)
    except PromQueryError as error:
        return TargetResult(ref_id, expr, legend, error=str(error))
    return TargetResult(ref_id, expr, legend, series=tuple(series))


def legend(series: Series, legend_format: str) -> str:
    """Grafana's legend: `{{label}}` filled from the series' labels, or the series' selector."""
    if legend_format and legend_format != "__auto":
        return _LEGEND_LABEL.sub(lambda m: series.labels.get(m.group(1), ""), legend_format)
    name = series.labels.get("__name__", "")
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(series.labels.items()) if k != "__name__")
    return f"{name}{{{inner}}}" if inner or not name else name


def format_value(value: float, unit: str | None, now: float | None = None) -> str:
    """A value as Grafana shows it for the units our dashboards use."""
    if math.isnan(value):
        return "NaN"
    if unit == "dateTimeFromNow":
        ago = (now if now is not None else time.time()) - value / 1000
        return f"{_format_seconds(ago)} ago" if ago >= 0 else f"in {_format_seconds(-ago)}"
    formatter = _UNIT_FORMATTERS.get(unit or "", _format_number)
    return formatter(value)


def _format_number(value: float) -> str:
    if float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.3g}" if abs(value) >= 0.001 else f"{value:.2e}"


def _format_bytes(value: float) -> str:
    for power, suffix in ((4, "TiB"), (3, "GiB"), (2, "MiB"), (1, "KiB")):
        if abs(value) >= 1024**power:
            return f"{value / 1024**power:.1f} {suffix}"
    return f"{value:.0f} B"


def _format_seconds(seconds: float) -> str:
    for size, suffix in ((86400, "day"), (3600, "hour"), (60, "min")):
        if abs(seconds) >= size:
            amount = seconds / size
            return f"{amount:.1f} {suffix}{'s' if suffix != 'min' and amount != 1 else ''}"
    return f"{seconds:.1f} s" if abs(seconds) < 10 else f"{seconds:.0f} s"


_UNIT_FORMATTERS: dict[str, Callable[[float], str]] = {
    "percentunit": lambda value: f"{value * 100:.1f}%",
    "s": _format_seconds,
    "bytes": _format_bytes,
    "cores": lambda value: f"{value:.3g} cores",
}


def _mapped(value: float, mappings: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    """(text, colour) of a value mapping that matches, if any."""
    for mapping in mappings:
        if mapping.get("type") != "value":
            continue
        for key, result in mapping.get("options", {}).items():
            try:
                matches = float(key) == value
            except ValueError:
                continue
            if matches:
                return str(result.get("text", key)), str(result.get("color", _PALETTE[0]))
    return None


def render_html(preview: DashboardPreview, now: float | None = None) -> str:
    """One self-contained HTML page: the dashboard's panels on its grid, empty panels labelled."""
    cells = [_row_html(title, y) for title, y in preview.rows]
    cells += [_panel_html(panel, preview.window, now) for panel in preview.panels]
    bottom = max([p.grid[1] + p.grid[3] for p in preview.panels] + [y + 1 for _, y in preview.rows] + [1])
    start, end = (
        datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")
        for t in (preview.window.start, preview.window.end)
    )
    problems = preview.problems
    summary = (
        f'<p class="problems">{len(problems)} problem(s):</p><ul class="problems">'
        + "".join(f"<li>{html.escape(p)}</li>" for p in problems)
        + "</ul>"
        if problems
        else '<p class="fine">every panel drawn from data</p>'
    )
    variables = ", ".join(f"${k} = {', '.join(v) or '(none)'}" for k, v in preview.variables.items())
    return _PAGE.format(
        title=html.escape(preview.title),
        meta=html.escape(f"{start} - {end} UTC, step {preview.window.step:g} s; {variables}"),
        summary=summary,
        rows=bottom,
        row_height=ROW_HEIGHT_PX,
        cells="\n".join(cells),
    )


def page_height(preview: DashboardPreview) -> int:
    """Pixels the page needs (for a screenshot's window size)."""
    bottom = max([p.grid[1] + p.grid[3] for p in preview.panels] + [1])
    return 140 + 24 * len(preview.problems) + bottom * (ROW_HEIGHT_PX + 6)


def _row_html(title: str, y: int) -> str:
    place = f"grid-column: 1 / span {GRID_COLUMNS}; grid-row: {y + 1} / span 1"
    return f'<div class="row" style="{place}">{html.escape(title)}</div>'


def _panel_html(panel: PanelResult, window: Window, now: float | None) -> str:
    x, y, w, h = panel.grid
    status = panel.status
    if status == STATUS_OK:
        body = {"timeseries": _timeseries_svg, "stat": _stat_html, "bargauge": _bargauge_html}[panel.type](
            panel, window, now, h * ROW_HEIGHT_PX - 34, w
        )
    else:
        label = {"empty": "NO DATA", "error": "QUERY ERROR", "unsupported": "NOT DRAWN"}[status]
        body = f'<div class="empty"><b>{label}</b><span>{html.escape(panel.reason)}</span></div>'
    return (
        f'<div class="panel status-{status}" data-status="{status}" '
        f'style="grid-column: {x + 1} / span {w}; grid-row: {y + 1} / span {h}">'
        f'<div class="title">{html.escape(panel.title)}</div>{body}</div>'
    )


def _last_values(panel: PanelResult) -> list[tuple[str, float]]:
    return [
        (legend(series, target.legend_format), series.points[-1][1])
        for target in panel.targets
        for series in target.series
        if series.points
    ]


def _stat_html(panel: PanelResult, window: Window, now: float | None, height: int, width: int) -> str:
    unit = panel.field_defaults.get("unit")
    mappings = panel.field_defaults.get("mappings", [])
    values = _last_values(panel)
    size = max(14, min(44, height // (2 if len(values) <= 2 else 3)))
    items = []
    for index, (name, value) in enumerate(values):
        text, colour = _mapped(value, mappings) or (
            format_value(value, unit, now),
            _PALETTE[index % len(_PALETTE)],
        )
        items.append(
            f'<div class="stat"><span class="value" style="color:{colour}; font-size:{size}px">'
            f'{html.escape(text)}</span><span class="name">{html.escape(name)}</span></div>'
        )
    return f'<div class="stats">{"".join(items)}</div>'


def _bargauge_html(panel: PanelResult, window: Window, now: float | None, height: int, width: int) -> str:
    unit = panel.field_defaults.get("unit")
    values = _last_values(panel)
    top = panel.field_defaults.get("max", max([v for _, v in values] + [1e-12]))
    bottom = panel.field_defaults.get("min", min([0.0] + [v for _, v in values]))
    span = (top - bottom) or 1.0
    bars = "".join(
        f'<div class="bar"><span class="name">{html.escape(name)}</span><span class="track">'
        f'<span class="fill" style="width:{max(0.0, min(1.0, (value - bottom) / span)) * 100:.1f}%;'
        f' background:{_PALETTE[index % len(_PALETTE)]}"></span></span>'
        f'<span class="num">{html.escape(format_value(value, unit, now))}</span></div>'
        for index, (name, value) in enumerate(values)
    )
    # Many series in a short panel wrap into columns, as Grafana shrinks bars, so every value stays readable.
    rows = max(1, min(len(values), height // 13))
    columns = math.ceil(len(values) / rows)
    layout = (
        f"height:{height}px; grid-template-rows:repeat({rows}, 1fr); "
        f"grid-template-columns:repeat({columns}, 1fr)"
    )
    return f'<div class="bars" style="{layout}">{bars}</div>'


def _timeseries_svg(panel: PanelResult, window: Window, now: float | None, height: int, width: int) -> str:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.dates import DateFormatter, date2num
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    unit = panel.field_defaults.get("unit")
    figure = Figure(figsize=(width * 60 / 100, max(1.5, height / 100)), dpi=100, facecolor="#181b1f")
    axes = figure.add_subplot()
    axes.set_facecolor("#181b1f")
    index = 0
    for target in panel.targets:
        dashed = target.ref_id in panel.dashed_ref_ids
        for series in target.series:
            times = [date2num(datetime.fromtimestamp(t, UTC)) for t, _ in series.points]
            axes.plot(
                times,
                [v for _, v in series.points],
                linestyle="--" if dashed else "-",
                linewidth=1.4,
                color=_PALETTE[index % len(_PALETTE)],
                label=legend(series, target.legend_format),
                marker="o" if len(series.points) == 1 else None,
                markersize=3,
            )
            index += 1
    if "min" in panel.field_defaults or "max" in panel.field_defaults:
        axes.set_ylim(panel.field_defaults.get("min"), panel.field_defaults.get("max"))
    axes.set_xlim(
        date2num(datetime.fromtimestamp(window.start, UTC)), date2num(datetime.fromtimestamp(window.end, UTC))
    )
    axes.xaxis.set_major_formatter(DateFormatter("%H:%M:%S" if window.end - window.start < 900 else "%H:%M"))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: format_value(value, unit, now)))
    axes.tick_params(colors="#ccccdc", labelsize=7)
    axes.grid(color="#2c3235", linewidth=0.6)
    for spine in axes.spines.values():
        spine.set_visible(False)
    if index <= 12:
        axes.legend(
            loc="upper left", fontsize=6.5, frameon=False, labelcolor="#ccccdc", ncols=2 if index > 4 else 1
        )
    figure.tight_layout(pad=0.4)
    out = io.StringIO()
    # Text as <text>, not outlined paths: a smaller page whose legends can be read and searched.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        figure.savefig(out, format="svg", facecolor=figure.get_facecolor())
    svg = out.getvalue()
    return svg[svg.index("<svg") :]


_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ background:#111217; color:#ccccdc; font-family:Inter,Helvetica,Arial,sans-serif; margin:16px; }}
h1 {{ font-size:20px; margin:0 0 4px; font-weight:500; }}
.meta {{ font-size:12px; color:#8e8e8e; margin:0 0 6px; }}
.problems {{ color:#f2495c; font-size:13px; margin:2px 0; }}
.fine {{ color:#73bf69; font-size:13px; margin:2px 0 6px; }}
.grid {{ display:grid; grid-template-columns:repeat(24, 1fr);
  grid-template-rows:repeat({rows}, {row_height}px); gap:6px; }}
.row {{ font-size:15px; font-weight:500; padding-top:6px; }}
.panel {{ background:#181b1f; border:1px solid #2c3235; border-radius:3px; overflow:hidden;
  display:flex; flex-direction:column; }}
.panel.status-empty, .panel.status-error, .panel.status-unsupported {{ border-color:#f2495c; }}
.title {{ font-size:13px; font-weight:500; padding:6px 8px 2px; }}
.panel svg {{ width:100%; height:auto; flex:1; }}
.empty {{ flex:1; display:flex; flex-direction:column; align-items:center; justify-content:center;
  padding:8px; text-align:center; }}
.empty b {{ color:#f2495c; font-size:16px; letter-spacing:1px; }}
.empty span {{ font-size:11px; color:#8e8e8e; margin-top:6px; word-break:break-all; }}
.stats {{ flex:1; display:flex; flex-wrap:wrap; align-items:center; justify-content:space-around;
  padding:4px; }}
.stat {{ display:flex; flex-direction:column; align-items:center; margin:2px 8px; }}
.stat .value {{ font-weight:600; line-height:1.1; }}
.stat .name {{ font-size:11px; color:#8e8e8e; }}
.bars {{ overflow:hidden; padding:2px 8px; display:grid; grid-auto-flow:column; column-gap:18px; }}
.bar {{ display:grid; grid-template-columns:minmax(120px, 40%) 1fr 64px; align-items:center; gap:8px;
  font-size:10px; }}
.bar .name {{ white-space:nowrap; overflow:hidden; text-overflow:ellipsis; text-align:right; }}
.bar .track {{ background:#22252b; height:70%; display:block; }}
.bar .fill {{ height:100%; display:block; }}
.bar .num {{ text-align:right; }}
</style></head>
<body><h1>{title}</h1><p class="meta">{meta}</p>{summary}
<div class="grid">
{cells}
</div></body></html>
"""


def alert_groups(alertmanager_url: str, timeout_seconds: float = 10.0) -> list[dict[str, Any]]:
    """Alertmanager's grouped alerts (`/api/v2/alerts/groups`), as its own UI lists them."""
    url = f"{alertmanager_url.rstrip('/')}/api/v2/alerts/groups"
    with urllib.request.urlopen(url, timeout=timeout_seconds) as response:
        return list(json.load(response))


def render_alert_groups_html(
    groups: Sequence[Mapping[str, Any]], source: str, now: float | None = None
) -> str:
    """Alertmanager's alert list drawn from its API: one block per group (receiver and group labels), one
    card per alert with its state, labels, summary and start time. Debian's Alertmanager ships no web UI
    (its page says so and points to amtool), so this shows what that UI would list, from the same API."""
    moment = now if now is not None else time.time()
    blocks = []
    for group in groups:
        receiver = group.get("receiver", {}).get("name", "?")
        group_labels = " ".join(f"{k}={v}" for k, v in sorted(group.get("labels", {}).items()))
        cards = []
        for alert in group.get("alerts", []):
            labels = alert.get("labels", {})
            state = alert.get("status", {}).get("state", "?")
            started = _parse_time(alert.get("startsAt", ""))
            since = f"{_format_seconds(moment - started)} ago" if started else "?"
            chips = "".join(
                f'<span class="chip{" name" if k == "alertname" else ""}">'
                f'{html.escape(k)}="{html.escape(v)}"</span>'
                for k, v in sorted(labels.items(), key=lambda kv: (kv[0] != "alertname", kv[0]))
            )
            summary = alert.get("annotations", {}).get("summary", "")
            receivers = ", ".join(r.get("name", "?") for r in alert.get("receivers", []))
            cards.append(
                f'<div class="alert {html.escape(state)}"><div class="head"><b>{html.escape(state)}</b>'
                f" since {html.escape(since)} &middot; receivers: {html.escape(receivers)}</div>"
                f'<div class="chips">{chips}</div><div class="summary">{html.escape(summary)}</div></div>'
            )
        blocks.append(
            f'<div class="group"><div class="ghead">receiver <b>{html.escape(receiver)}</b> &middot; '
            f"{html.escape(group_labels) or '(no group labels)'} &middot; {len(cards)} alert(s)</div>"
            + "".join(cards)
            + "</div>"
        )
    count = sum(len(g.get("alerts", [])) for g in groups)
    return _ALERTS_PAGE.format(
        source=html.escape(source),
        when=datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        count=count,
        blocks="\n".join(blocks) or '<p class="none">no alerts</p>',
    )


def _parse_time(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


_ALERTS_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Alertmanager: alerts</title>
<style>
body {{ background:#f5f5f5; color:#212529; font-family:Helvetica,Arial,sans-serif; margin:0; }}
.nav {{ background:#343a40; color:#fff; padding:10px 18px; font-size:18px; }}
.nav span {{ color:#adb5bd; font-size:13px; margin-left:18px; }}
main {{ padding:14px 18px; }}
.meta {{ font-size:12px; color:#6c757d; margin:0 0 10px; }}
.group {{ background:#fff; border:1px solid #dee2e6; border-radius:4px; margin-bottom:12px; }}
.ghead {{ background:#e9ecef; padding:6px 10px; font-size:13px; }}
.alert {{ border-top:1px solid #dee2e6; padding:8px 10px; }}
.alert .head {{ font-size:12px; color:#6c757d; }}
.alert.active .head b {{ color:#dc3545; }}
.alert.suppressed .head b {{ color:#6c757d; }}
.chips {{ margin:5px 0; }}
.chip {{ display:inline-block; background:#e9ecef; border-radius:3px; padding:2px 6px; margin:2px 4px 2px 0;
  font-size:12px; font-family:monospace; }}
.chip.name {{ background:#dc3545; color:#fff; }}
.summary {{ font-size:13px; }}
</style></head>
<body><div class="nav">Alertmanager<span>alerts, grouped as routed; drawn from its API (Debian's build has
no web UI)</span></div><main>
<p class="meta">{count} alert(s) at {when}, from {source}</p>
{blocks}
</main></body></html>
"""


def committed_dashboards(directory: Path = DASHBOARD_DIR) -> list[tuple[Path, dict[str, Any]]]:
    return [(path, json.loads(path.read_text(encoding="utf-8"))) for path in sorted(directory.glob("*.json"))]


def preview_all(
    source: MetricsSource,
    window: Window,
    out: Path,
    directory: Path = DASHBOARD_DIR,
    report: Callable[[str], None] = print,
) -> list[tuple[Path, DashboardPreview]]:
    """Every committed dashboard evaluated and written to `out/<file stem>.html`; problems reported."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path, dashboard in committed_dashboards(directory):
        preview = evaluate_dashboard(dashboard, source, window)
        page = out / f"{path.stem}.html"
        page.write_text(render_html(preview), encoding="utf-8")
        drawn = sum(panel.status == STATUS_OK for panel in preview.panels)
        report(f"[dashboards] {path.name}: {drawn}/{len(preview.panels)} panels drawn from data -> {page}")
        for problem in preview.problems:
            report(f"[dashboards]   {problem}")
        written.append((page, preview))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m monitoring.preview", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--prometheus", required=True, help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    parser.add_argument("--out", type=Path, required=True, help="folder for one HTML page per dashboard")
    parser.add_argument("--minutes", type=float, default=30.0, help="time range: the last N minutes (30)")
    parser.add_argument(
        "--step", type=float, default=0.0, help="range-query step in seconds (default: range/300)"
    )
    parser.add_argument("--scrape-interval", type=float, default=15.0, help="for $__rate_interval (15)")
    parser.add_argument(
        "--dashboards", type=Path, default=DASHBOARD_DIR, help="folder of dashboard JSON files"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if any panel is not drawn from data")
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        parser.error(f"--minutes must be positive, got {args.minutes:g}")
    end = time.time()
    start = end - args.minutes * 60
    window = Window(start, end, args.step or max(1.0, (end - start) / 300), args.scrape_interval)
    try:
        written = preview_all(PrometheusApi(args.prometheus), window, args.out, args.dashboards)
    except (OSError, PromQueryError) as error:
        print(f"[dashboards] cannot query Prometheus at {args.prometheus}: {error}", file=sys.stderr)
        return 2
    return 1 if args.strict and any(preview.problems for _, preview in written) else 0


if __name__ == "__main__":
    sys.exit(main())
