"""A figure's numbers as text tables, for readers who cannot see the chart (a screen reader reads a table, not an SVG).

    for table in figure_tables(fig):     # NumberTable(caption, frame): rows are categories, cells are strings
        ...

The tables are read from the traces themselves, so they can never disagree with the chart:
- bar and scatter traces: one column per trace, one row per category (x, or y for horizontal bars); traces over
  the same categories share a table. A flat line (capacity, fair share) is one row of a "Lines" table.
- heatmaps: the matrix as drawn (turned when it would be very wide); cells show the printed text where the chart
  prints text in its cells (or, with no text printed, where its hover says it).
- a diagram (both axes hidden): its parts' labels, in order; their positions mean nothing.
Values are rounded as the chart shows them: the trace's own texttemplate or hovertemplate format (`%{y:.2f}`), or
its printed bar labels. Axis tick texts (E0, E1, ...) replace the raw positions. Traces that hover nothing
(outlines, decoration) are left out.
"""
from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

_TAG = re.compile(r"<[^>]+>")
WIDE = 16  # a heatmap with more columns than this (and than rows) is listed turned, one row per column


@dataclass(frozen=True)
class NumberTable:
    caption: str
    frame: pd.DataFrame  # index: the categories (row headers); cells: strings as the chart shows them


def plain(label) -> str:
    """A Plotly label as a reader sees it: markup tags removed (<br> becomes a space), entities decoded."""
    text = re.sub(r"<br\s*/?>", " ", str(label), flags=re.I)
    return html.unescape(_TAG.sub("", text)).strip()


def _format_spec(trace, letter: str) -> str | None:
    """The d3 format the chart uses for `letter` ("x", "y", "z"), e.g. ".2f", from the text or hover template."""
    for template in (getattr(trace, "texttemplate", None), getattr(trace, "hovertemplate", None)):
        match = re.search(r"%\{" + letter + r":([^}]+)\}", template or "")
        if match:
            return match.group(1)
    return None


def _number(value, spec: str | None) -> str:
    if isinstance(value, str):
        return plain(value)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return ""  # None or anything else a chart leaves blank
    if math.isnan(value):
        return ""
    if spec:
        try:
            return format(value, spec)  # d3's common formats (.2f, .0%, ,.0f) are Python's too
        except ValueError:
            pass
    if value.is_integer() or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _tick_names(layout, axis_id: str | None, values) -> list[str]:
    """`values` as the axis labels them: its ticktext where tickvals name them, else the values themselves."""
    axis = _axis(layout, axis_id)
    ticks = {}
    if axis is not None and axis.tickvals is not None and axis.ticktext is not None:
        ticks = {v: t for v, t in zip(axis.tickvals, axis.ticktext)}
    return [plain(ticks.get(v, v)) for v in values]


def _axis(layout, axis_id: str | None):
    name = "xaxis" if not axis_id else axis_id[0] + "axis" + axis_id[1:]
    return layout[name] if name in layout else None


def _axis_title(layout, axis_id: str | None, fallback: str = "") -> str:
    axis = _axis(layout, axis_id)
    text = axis.title.text if axis is not None and axis.title is not None else None
    return plain(text) if text else fallback


def _row_header(trace, layout, letter: str) -> str:
    """A name for the categories on axis `letter`: the axis title, else the word the hover puts before them
    ("expert %{x}" -> "expert"), else "item" (a table's header cell must not be empty)."""
    title = _axis_title(layout, getattr(trace, letter + "axis", None) or letter)
    match = re.search(r"([A-Za-z][\w-]*)\s*%\{" + letter + r"[}:]", getattr(trace, "hovertemplate", None) or "")
    return title or (match.group(1) if match else "item")


def _series(trace, layout):
    """(category label, categories, [(column name, cells)]) of a bar/scatter trace; cells are strings."""
    if _is_diagram(trace, layout):  # positions on hidden axes mean nothing: list the parts' labels in order
        labels = [plain(t) for t in (trace.text if trace.text is not None and not isinstance(trace.text, str) else [])]
        return "part", [str(i) for i in range(1, len(labels) + 1)], [(plain(trace.name or "label"), labels)]
    horizontal = getattr(trace, "orientation", None) == "h"
    cat, val = ("y", "x") if horizontal else ("x", "y")
    values = list(getattr(trace, val)) if getattr(trace, val) is not None else []
    cats = getattr(trace, cat)
    cats = list(cats) if cats is not None else list(range(len(values)))
    axis_id = getattr(trace, cat + "axis", None) or cat
    categories = _tick_names(layout, axis_id, cats)
    spec = _format_spec(trace, val)
    cells = [_number(v, spec) for v in values]
    text = getattr(trace, "text", None)
    name = plain(trace.name) if trace.name else _axis_title(layout, getattr(trace, val + "axis", None) or val, val)
    columns = [(name, cells)]
    if text is not None and not isinstance(text, str) and len(text) == len(values):
        labels = [plain(t) if t is not None else "" for t in text]
        if all(labels) and all(_is_number(t) for t in labels):
            columns = [(name, labels)]  # every bar prints its rounded value: show those
        elif any(labels):
            columns.append((f"{name}: label", labels))
    return _row_header(trace, layout, cat), categories, columns


def _is_diagram(trace, layout) -> bool:
    axes = (_axis(layout, trace.xaxis or "x"), _axis(layout, trace.yaxis or "y"))
    return all(axis is not None and axis.visible is False for axis in axes)


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "").rstrip("%"))
        return True
    except ValueError:
        return False


def _flat_line(trace, values) -> bool:
    return (trace.type == "scatter" and "markers" not in (trace.mode or "lines") and len(values) >= 2
            and len({v for v in values if v is not None}) == 1)


def _heatmap_table(trace, layout) -> NumberTable:
    z = np.asarray(trace.z, dtype=object)
    z = z.reshape(1, -1) if z.ndim == 1 else z
    rows = _tick_names(layout, getattr(trace, "yaxis", None) or "y",
                       trace.y if trace.y is not None else range(z.shape[0]))
    cols = _tick_names(layout, getattr(trace, "xaxis", None) or "x",
                       trace.x if trace.x is not None else range(z.shape[1]))
    spec = _format_spec(trace, "z")
    # cells' text as printed, or (a grid too dense to print it) as the hover says it: what the chart tells
    shows_text = trace.text is not None and "%{text}" in (trace.texttemplate or trace.hovertemplate or "")
    text = np.asarray(trace.text, dtype=object).reshape(z.shape) if shows_text else None
    custom = trace.customdata
    with_custom = (shows_text and "%{customdata}" in (trace.hovertemplate or "") and custom is not None
                   and np.asarray(custom, dtype=object).size == z.size)
    custom = np.asarray(custom, dtype=object).reshape(z.shape) if with_custom else None

    def cell(i, j):
        if text is None:
            return _number(z[i, j], spec)
        shown = plain(text[i, j]) if text[i, j] is not None else ""
        extra = custom[i, j] if custom is not None and isinstance(custom[i, j], str) else ""
        return f"{shown} · {plain(extra)}" if shown and extra else shown

    frame = pd.DataFrame([[cell(i, j) for j in range(z.shape[1])] for i in range(z.shape[0])],
                         index=pd.Index(rows, name=_row_header(trace, layout, "y")), columns=cols)
    if len(cols) > WIDE and len(cols) > len(rows):  # the chart's orientation, unless it makes a very wide table
        frame = frame.T
        frame.index.name = _row_header(trace, layout, "x")
    return NumberTable(plain(trace.name) if trace.name else "Values", frame)


def figure_tables(fig) -> list[NumberTable]:
    """The numbers `fig` draws, as tables (see the module docstring); [] when it draws none."""
    layout = fig.layout
    tables, groups, lines = [], {}, []
    for trace in fig.data:
        if trace.visible is False or trace.hoverinfo == "skip":
            continue
        if trace.type == "heatmap":
            tables.append(_heatmap_table(trace, layout))
        elif trace.type in ("bar", "scatter"):
            label, categories, columns = _series(trace, layout)
            if not categories or not any(any(cells) for _, cells in columns):
                continue
            if _flat_line(trace, [c for c in columns[0][1] if c]):
                lines.append((columns[0][0], next(c for c in columns[0][1] if c)))
                continue
            groups.setdefault(label, []).extend((categories, column) for column in columns)
    for label, series in groups.items():
        tables.append(_merged_table(label, series))
    if lines:
        tables.append(NumberTable("Lines", pd.DataFrame({"value": [v for _, v in lines]},
                                                        index=pd.Index(_unique([n for n, _ in lines]), name="line"))))
    return tables


def _merged_table(label: str, series: list) -> NumberTable:
    """One table for every bar/line series over the same kind of category (e.g. experts): a row per category,
    a column per series, "" where a series draws nothing (kept and masked-out bars are one list of experts)."""
    order = list(dict.fromkeys(c for categories, _ in series for c in categories))
    if len({tuple(categories) for categories, _ in series}) > 1:  # merged from parts: natural order (E2 < E10)
        order.sort(key=lambda c: [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(c))])
    names = _unique([name for _, (name, _) in series])
    frame = pd.DataFrame({name: [dict(zip(categories, cells)).get(c, "") for c in order]
                          for name, (categories, (_, cells)) in zip(names, series)},
                         index=pd.Index(order, name=label))
    return NumberTable(", ".join(names), frame)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out
