"""Charts of an index's portfolio, drawn with matplotlib's object API.

Every function takes plain rows (tuples of dates, tickers, sectors and floats, as `b3 query`
returns them) and returns a new `matplotlib.figure.Figure`. No pyplot: a figure made here has no
figure manager and no "current figure", so it belongs to the caller alone and charts can be drawn
in Dagster's threads or the CLI alike, with no GUI backend (PNG through Agg, SVG through the SVG
backend). `png_bytes`, `svg_text` and `markdown_image` turn a figure into what Dagster's markdown
metadata or the HTML report embed; neither refers to anything on the network.

Sizes are for a laptop screen and an A4 page (about 9 x 5 inches, text 10-13 pt), and the colours
are Paul Tol's "muted" scheme, which stays distinguishable with the common colour-vision
deficiencies and in greyscale print.
"""

from __future__ import annotations

import base64
import io
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import matplotlib
import matplotlib.dates as mdates
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from b3_contract.previews import quadrimester_start

# Paul Tol's "muted" qualitative scheme (colour-blind safe), then a neutral grey for "others".
PALETTE = (
    "#332288",
    "#88CCEE",
    "#44AA99",
    "#117733",
    "#999933",
    "#DDCC77",
    "#CC6677",
    "#882255",
    "#AA4499",
)
OTHERS_COLOUR = "#BBBBBB"
GAP_COLOUR = "#999999"
LINE_STYLES = ("-", "--", ":")

TITLE_SIZE = 14
LABEL_SIZE = 12
TICK_SIZE = 11
WIDE = (9.0, 5.0)
NO_SECTOR = "(no sector)"

DateSpan = tuple[date, date]


def _figure(
    size: tuple[float, float] = WIDE,
    rows: int = 1,
    sharex: bool = False,
    heights: Sequence[float] | None = None,
):
    """A figure with `rows` stacked axes (relative `heights`), constrained layout, white
    background."""
    fig = Figure(figsize=size, layout="constrained", facecolor="white")
    ratios = {"height_ratios": list(heights)} if heights else None
    axes = fig.subplots(rows, 1, sharex=sharex, squeeze=False, gridspec_kw=ratios)[:, 0]
    for ax in axes:
        ax.tick_params(labelsize=TICK_SIZE)
        ax.spines[["top", "right"]].set_visible(False)
    return fig, list(axes)


def _message(fig: Figure, ax: Axes, title: str, message: str) -> Figure:
    """A chart that says plainly why it has nothing to show, instead of empty axes."""
    ax.set_axis_off()
    ax.set_title(title, fontsize=TITLE_SIZE, loc="left")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=LABEL_SIZE + 1, color="#444444")
    return fig


def _date_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator(minticks=4, maxticks=9)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("date", fontsize=LABEL_SIZE)


def _shade_gaps(ax: Axes, gaps: Iterable[DateSpan], dates: Sequence[date]) -> None:
    """Grey bands over sessions with nothing captured inside the drawn `dates`: the lines cross
    them by interpolation. Gaps outside the drawn dates would only widen the axis."""
    inside = [(first, last) for first, last in gaps if dates[0] < first and last < dates[-1]]
    for n, (first, last) in enumerate(inside):
        ax.axvspan(
            first - timedelta(hours=12),
            last + timedelta(hours=12),
            color=GAP_COLOUR,
            alpha=0.18,
            linewidth=0,
            label="not captured" if n == 0 else None,
        )


def _marker(points: int) -> str | None:
    """Lines of one or two points would be invisible without markers."""
    return "o" if points <= 3 else None


def _weight_bars(
    ax: Axes,
    title: str,
    labels: list[str],
    values: list[float],
    colours: list[str],
    headroom: float,
) -> None:
    """Horizontal bars of weights in %, the first on top, each labelled with its value
    (`headroom`: room right of the longest bar for its label)."""
    positions = np.arange(len(labels))
    bars = ax.barh(positions, values, color=colours, height=0.7)
    ax.bar_label(bars, fmt="%.2f", padding=3, fontsize=TICK_SIZE - 1)
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()
    ax.set_xlabel("weight (%)", fontsize=LABEL_SIZE)
    ax.set_xlim(0, max(values) * headroom)
    ax.set_title(title, fontsize=TITLE_SIZE, loc="left")
    ax.grid(axis="x", color="#DDDDDD", linewidth=0.6)
    ax.set_axisbelow(True)


def weights_chart(
    weights: Sequence[tuple[str, float]], day: date, index: str, top: int = 15
) -> Figure:
    """The day's weights as horizontal bars: the `top` largest constituents, then the rest summed
    as "others", so a portfolio of 80+ names stays readable.

    `weights`: (ticker, weight in %) for each constituent of the day.
    """
    title = f"{index} weights on {day.isoformat()}"
    fig, [ax] = _figure((9.0, 6.0))
    ordered = sorted(weights, key=lambda row: (-row[1], row[0]))
    if not ordered:
        return _message(fig, ax, title, "no constituents on this date")
    shown = ordered[:top]
    labels = [ticker for ticker, _ in shown]
    values = [float(weight) for _, weight in shown]
    colours = [PALETTE[0]] * len(shown)
    rest = ordered[top:]
    if rest:
        labels.append(f"others ({len(rest)})")
        values.append(sum(float(weight) for _, weight in rest))
        colours.append(OTHERS_COLOUR)
    _weight_bars(ax, title, labels, values, colours, headroom=1.12)
    return fig


def _by_sector(rows: Iterable[tuple[str | None, float]]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for sector, weight in rows:
        totals[sector or NO_SECTOR] += float(weight)
    return totals


def sector_chart(
    sectors: Sequence[tuple[str | None, float]], day: date, index: str, top: int = 15
) -> Figure:
    """The day's weights by sector as horizontal bars (the `top` largest, the rest as "others").

    `sectors`: (sector or None, weight in %) per constituent or per sector; rows of a sector are
    summed. CSV imports carry no sectors: then the chart says "no sector data".
    """
    title = f"{index} weights by sector on {day.isoformat()}"
    fig, [ax] = _figure((9.0, 6.0))
    if not sectors or all(sector is None for sector, _ in sectors):
        return _message(
            fig, ax, title, "no sector data for this date\n(CSV imports carry no sectors)"
        )
    ordered = sorted(_by_sector(sectors).items(), key=lambda item: (-item[1], item[0]))
    shown, rest = ordered[:top], ordered[top:]
    labels = [name for name, _ in shown]
    values = [weight for _, weight in shown]
    colours = [OTHERS_COLOUR if name == NO_SECTOR else PALETTE[2] for name in labels]
    if rest:
        labels.append(f"others ({len(rest)} sectors)")
        values.append(sum(weight for _, weight in rest))
        colours.append(OTHERS_COLOUR)
    _weight_bars(ax, title, labels, values, colours, headroom=1.15)
    return fig


def top_weights_chart(
    rows: Sequence[tuple[date, str, float]],
    index: str,
    n: int = 8,
    gaps: Sequence[DateSpan] = (),
) -> Figure:
    """The weights over time of the `n` largest constituents on the last date, one line each.

    `rows`: (date, ticker, weight in %) per constituent and date. A ticker absent on a date (not
    yet in the index, or gone) leaves a break in its line; `gaps` (first, last session not
    captured) are shaded.
    """
    title = f"{index}: weights of the {n} largest constituents over time"
    fig, [ax] = _figure()
    if not rows:
        return _message(fig, ax, title, "no data in this period")
    dates = sorted({row[0] for row in rows})
    last = dates[-1]
    on_last = sorted(((-float(w), t) for d, t, w in rows if d == last))
    tickers = [ticker for _, ticker in on_last[:n]]
    title = f"{index}: weights of the {len(tickers)} largest constituents (on {last}) over time"
    column = {day: i for i, day in enumerate(dates)}
    series = {ticker: np.full(len(dates), np.nan) for ticker in tickers}
    for day, ticker, weight in rows:
        line = series.get(ticker)
        if line is not None:
            line[column[day]] = float(weight)
    x = mdates.date2num(dates)
    _shade_gaps(ax, gaps, dates)
    for i, ticker in enumerate(tickers):
        ax.plot(
            x,
            series[ticker],
            color=PALETTE[i % len(PALETTE)],
            linestyle=LINE_STYLES[i // len(PALETTE) % len(LINE_STYLES)],
            linewidth=1.8,
            marker=_marker(len(dates)),
            label=ticker,
        )
    _date_axis(ax)
    ax.set_ylabel("weight (%)", fontsize=LABEL_SIZE)
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=TITLE_SIZE, loc="left")
    ax.grid(color="#DDDDDD", linewidth=0.6)
    ax.legend(
        fontsize=TICK_SIZE, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, ncols=1
    )
    return fig


def concentration_chart(
    rows: Sequence[tuple[date, float, float]], index: str, gaps: Sequence[DateSpan] = ()
) -> Figure:
    """Concentration over time in two panels sharing the date axis: the top-10 weight (%) and
    the effective number of constituents (10000 / HHI), which have different units.

    `rows`: (date, top-10 weight in %, effective number) per date.
    """
    title = f"{index}: concentration over time"
    if not rows:
        fig, [ax] = _figure()
        return _message(fig, ax, title, "no data in this period")
    fig, [top, effective] = _figure((9.0, 6.0), rows=2, sharex=True)
    ordered = sorted(rows)
    x = mdates.date2num([row[0] for row in ordered])
    marker = _marker(len(ordered))
    for ax in (top, effective):
        _shade_gaps(ax, gaps, [row[0] for row in ordered])
        ax.grid(color="#DDDDDD", linewidth=0.6)
    top.plot(x, [float(r[1]) for r in ordered], color=PALETTE[0], linewidth=1.8, marker=marker)
    top.set_ylabel("top-10 weight (%)", fontsize=LABEL_SIZE)
    top.set_title(title, fontsize=TITLE_SIZE, loc="left")
    effective.plot(
        x, [float(r[2]) for r in ordered], color=PALETTE[6], linewidth=1.8, marker=marker
    )
    effective.set_ylabel("effective number\nof constituents", fontsize=LABEL_SIZE)
    _date_axis(effective)
    if top.get_legend_handles_labels()[0]:
        top.legend(fontsize=TICK_SIZE, loc="best", frameon=False)
    return fig


def sector_history_chart(
    rows: Sequence[tuple[date, str | None, float]],
    index: str,
    top: int = 8,
    gaps: Sequence[DateSpan] = (),
) -> Figure:
    """Sector weights over time as stacked areas: the `top` largest sectors on the last date with
    sectors, the rest as "others", so the bands always add up to the index (100%).

    `rows`: (date, sector or None, weight in %) per constituent or per sector. Only dates with
    sector data are drawn (CSV imports have none); with none at all the chart says so.
    """
    title = f"{index}: weights by sector over time"
    fig, [ax] = _figure()
    sums: dict[date, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    with_sectors = {day for day, sector, _ in rows if sector is not None}
    for day, sector, weight in rows:
        if day in with_sectors:
            sums[day][sector or NO_SECTOR] += float(weight)
    if not sums:
        return _message(
            fig, ax, title, "no sector data in this period\n(CSV imports carry no sectors)"
        )
    dates = sorted(sums)
    last = sums[dates[-1]]
    ranked = sorted(last, key=lambda name: (name == NO_SECTOR, -last[name], name))
    kept = ranked[:top]
    others = np.zeros(len(dates))
    bands = {name: np.zeros(len(dates)) for name in kept}
    for i, day in enumerate(dates):
        for name, weight in sums[day].items():
            if name in bands:
                bands[name][i] = weight
            else:
                others[i] += weight
    labels = list(kept)
    values = [bands[name] for name in kept]
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(kept))]
    if others.any():
        labels.append("others")
        values.append(others)
        colours.append(OTHERS_COLOUR)
    x = mdates.date2num(dates)
    _shade_gaps(ax, gaps, dates)
    if len(dates) == 1:  # an area needs two dates: one date is a stacked bar
        bottom = 0.0
        for label, value, colour in zip(labels, values, colours, strict=True):
            ax.bar(x, value, bottom=bottom, color=colour, width=0.8, label=label)
            bottom += float(value[0])
    else:
        ax.stackplot(x, values, labels=labels, colors=colours, linewidth=0.3, edgecolor="white")
    _date_axis(ax)
    ax.set_ylabel("weight (%)", fontsize=LABEL_SIZE)
    ax.set_ylim(0, 100)
    every_date = {day for day, _, _ in rows}
    if len(dates) < len(every_date):
        title = f"{title} (sectors known on {len(dates)} of {len(every_date)} dates)"
    ax.set_title(title, fontsize=TITLE_SIZE, loc="left")
    handles, names = ax.get_legend_handles_labels()
    ax.legend(
        handles[::-1],
        names[::-1],
        fontsize=TICK_SIZE - 1,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        frameon=False,
    )
    return fig


ENTRY_COLOUR = PALETTE[3]  # green: the report's colour for entries
EXIT_COLOUR = PALETTE[7]  # wine: the report's colour for exits
QUADRIMESTER_MONTHS = {1: "Jan–Apr", 5: "May–Aug", 9: "Sep–Dec"}


def quadrimester_name(label: str) -> str:
    """'Sep–Dec 2025' for the quadrimester '2025-09': how B3 names its portfolios (its CSV title
    reads "Carteira Set. a Dez. 2025"); a label alone is easy to misread as one month."""
    first = quadrimester_start(label)
    return f"{QUADRIMESTER_MONTHS[first.month]} {first.year}"


def _as_day(value: Any) -> date | None:
    if value is None or type(value) is date:
        return value
    if isinstance(value, datetime):
        return value.date()
    return date.fromisoformat(str(value)[:10])


def _change_panel(
    ax: Axes,
    title: str,
    bars: list[tuple[str, float]],
    colour: str,
    weight_label: str,
    none_text: str,
    top: int,
) -> list[float]:
    """One side of the rebalance: the `top` heaviest names as bars (the rest counted in the
    axis label), or a plain "none". Returns the drawn values (for a shared scale)."""
    if not bars:
        ax.set_axis_off()
        ax.set_title(title, fontsize=TITLE_SIZE, loc="left")
        ax.text(0.5, 0.5, none_text, ha="center", va="center", fontsize=LABEL_SIZE, color="#444444")
        return []
    shown, rest = bars[:top], bars[top:]
    values = [weight for _, weight in shown]
    _weight_bars(ax, title, [t for t, _ in shown], values, [colour] * len(shown), headroom=1.15)
    if rest:
        together = sum(weight for _, weight in rest)
        weight_label += f"  ·  +{len(rest)} more not shown ({together:.2f}% together)"
    ax.set_xlabel(weight_label, fontsize=LABEL_SIZE)
    return values


def rebalance_chart(
    rows: Iterable[Mapping[str, Any]],
    index: str,
    quadrimester: str,
    session: date,
    top: int = 15,
) -> Figure:
    """Who enters and who leaves an index at the rebalance a preview forecasts: entries with
    their weight in the preview, exits with their weight today, each side sorted by weight (the
    `top` heaviest drawn, the rest counted), on one weight scale.

    `rows`: carteira_previa_mudancas rows as dicts (a pyarrow table's `to_pylist()`, a query's
    rows zipped with its columns). Rows of another index, capture session or comparison
    ('realizada') are ignored, so a refine's whole output can be passed as it is.
    """
    mine = [
        row
        for row in rows
        if row.get("comparacao", "previa") == "previa"
        and row.get("indice", index) == index
        and _as_day(row.get("data", session)) == session
    ]
    title = f"{index}: who enters and who leaves in {quadrimester_name(quadrimester)}"
    if not mine:
        fig, [ax] = _figure()
        return _message(
            fig,
            ax,
            title,
            f"no comparison for the preview captured on {session.isoformat()}\n"
            "(no daily portfolio captured up to that session)",
        )

    def side(kind: str, column: str) -> list[tuple[str, float]]:
        picked = [(str(r["acao"]), float(r[column])) for r in mine if r["tipo_mudanca"] == kind]
        return sorted(picked, key=lambda bar: (-bar[1], bar[0]))

    entries = side("entrada", "participacao_depois_pct")
    exits = side("saida", "participacao_antes_pct")
    compared = sorted({str(_as_day(r["data_carteira"])) for r in mine if r.get("data_carteira")})
    against = f", against the portfolio of {', '.join(compared)}" if compared else ""
    lines = [min(len(entries), top) or 1, min(len(exits), top) or 1]
    fig, [upper, lower] = _figure(
        (9.0, min(12.0, max(5.0, 2.4 + 0.32 * (sum(lines) + 4)))),
        rows=2,
        heights=[n + 2.5 for n in lines],
    )
    fig.suptitle(
        f"{title}\nB3's preview captured on {session.isoformat()}{against}",
        x=0.01,
        ha="left",
        fontsize=TITLE_SIZE,
    )
    drawn = _change_panel(
        upper,
        f"Entering: {len(entries)}",
        entries,
        ENTRY_COLOUR,
        "weight in the preview (%)",
        "none: the preview adds no name",
        top,
    ) + _change_panel(
        lower,
        f"Leaving: {len(exits)}",
        exits,
        EXIT_COLOUR,
        "weight today (%)",
        "none: every name of today's portfolio stays",
        top,
    )
    for ax in (upper, lower):
        if drawn and ax.axison:
            ax.set_xlim(0, max(drawn) * 1.15)
    return fig


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    """The figure as PNG (Agg), without matplotlib's "Software" text chunk."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


# The SVG backend reads the font type from rcParams only. rc_context changes it for the whole
# process, so SVG saves take turns: two at once cannot restore each other's setting.
_SVG_LOCK = threading.Lock()
_SVG_NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}
_SVG_NAMESPACES = (
    ' xmlns="http://www.w3.org/2000/svg"',
    ' xmlns:xlink="http://www.w3.org/1999/xlink"',
)


def svg_text(fig: Figure) -> str:
    """The figure as an `<svg>` element to inline in HTML.

    Text stays text (`svg.fonttype: none`), so titles and labels are selectable, searchable and
    read by screen readers, and the file is smaller than with glyph outlines. The XML prolog,
    the DOCTYPE and the Dublin Core metadata are left out, and so are the namespace declarations,
    which the HTML parser supplies: the element holds no URL at all.
    """
    buffer = io.StringIO()
    with _SVG_LOCK, matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg", metadata=_SVG_NO_METADATA)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    for declaration in _SVG_NAMESPACES:
        text = text.replace(declaration, "", 1)
    return text.strip()


def markdown_image(png: bytes, alt: str) -> str:
    """A markdown image with the PNG inline as a data URI: Dagster's markdown metadata then shows
    it with no internet and no file server."""
    label = alt.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    return f"![{label}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
