"""The charts: each draws a real picture from plain rows, with or without sectors, and turns into
a PNG, an inline SVG with no URL, and a Dagster markdown image."""

from __future__ import annotations

import base64
import io
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal

import matplotlib
import pyarrow as pa
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from PIL import Image

from b3_assets.analytics import charts

DAYS = [date(2025, 6, 2) + timedelta(days=n) for n in range(40) if (n % 7) < 5]
TICKERS = [f"TK{n:02d}3" for n in range(30)]
SECTORS = ["Financ e Outros / Interms Financs", "Petróleo, Gás e Biocombustíveis", "Diversos"]


def weight(ticker: int, day: int) -> float:
    return round((30 - ticker) * 0.2 + (day % 5) * 0.01, 3)


HISTORY = [(d, t, weight(i, n)) for n, d in enumerate(DAYS) for i, t in enumerate(TICKERS)]
LAST = [(t, w) for d, t, w in HISTORY if d == DAYS[-1]]
BY_SECTOR = [(d, SECTORS[i % 3], weight(i, n)) for n, d in enumerate(DAYS) for i in range(30)]
SESSION = date(2025, 8, 28)  # a preview's capture session


def change(acao: str, kind: str, before: float | None, after: float | None, **extra) -> dict:
    """A carteira_previa_mudancas row as a pyarrow table's to_pylist() gives it."""
    return {
        "comparacao": "previa",
        "acao": acao,
        "empresa": f"{acao[:4]} SA",
        "tipo_mudanca": kind,
        "participacao_antes_pct": before,
        "participacao_depois_pct": after,
        "variacao_pp": round((after or 0) - (before or 0), 3),
        "quadrimestre": "2025-09",
        "data_carteira": SESSION,
        "indice": "IBOV",
        "data": SESSION,
        **extra,
    }


ENTRIES = {"NEWA3": 0.412, "NEWB11": 1.25, "NEWC4": 0.087}
EXITS = {"OLDA3": 0.21, "OLDB4": 0.055}
CHANGES = [
    *(change(t, "entrada", None, w) for t, w in ENTRIES.items()),
    *(change(t, "saida", w, None) for t, w in EXITS.items()),
    change("STAY3", "permanece", 5.0, 5.5),
]


def decoded(fig: Figure) -> Image.Image:
    png = charts.png_bytes(fig)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def assert_drawn(image: Image.Image) -> None:
    """Not a blank canvas: a sizeable picture with many colours (bars, lines, text)."""
    assert image.width >= 600 and image.height >= 300
    colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50


CHARTS = {
    "weights": lambda: charts.weights_chart(LAST, DAYS[-1], "IBOV"),
    "sectors": lambda: charts.sector_chart(
        [(SECTORS[i % 3], w) for i, (_, w) in enumerate(LAST)], DAYS[-1], "IBOV"
    ),
    "top_weights": lambda: charts.top_weights_chart(HISTORY, "IBOV", gaps=[(DAYS[10], DAYS[11])]),
    "concentration": lambda: charts.concentration_chart(
        [(d, 40.0 + n * 0.1, 30.0 - n * 0.05) for n, d in enumerate(DAYS)],
        "IBOV",
        gaps=[(DAYS[10], DAYS[11])],
    ),
    "sector_history": lambda: charts.sector_history_chart(BY_SECTOR, "IBOV"),
    "rebalance": lambda: charts.rebalance_chart(CHANGES, "IBOV", "2025-09", SESSION),
}


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_each_chart_is_a_figure_whose_png_decodes_to_a_real_picture(name: str) -> None:
    fig = CHARTS[name]()
    assert isinstance(fig, Figure)
    assert fig.axes and fig.axes[0].get_title(loc="left")  # every chart has a title
    assert_drawn(decoded(fig))


def test_the_axes_are_labelled_in_the_datas_units() -> None:
    weights = CHARTS["weights"]()
    assert weights.axes[0].get_xlabel() == "weight (%)"
    over_time = CHARTS["top_weights"]()
    assert over_time.axes[0].get_ylabel() == "weight (%)"
    assert over_time.axes[0].get_xlabel() == "date"
    concentration = CHARTS["concentration"]()
    assert [ax.get_ylabel() for ax in concentration.axes] == [
        "top-10 weight (%)",
        "effective number\nof constituents",
    ]


def test_the_weights_chart_shows_the_top_15_and_sums_the_rest_as_others() -> None:
    fig = charts.weights_chart(LAST, DAYS[-1], "IBOV")
    labels = [label.get_text() for label in fig.axes[0].get_yticklabels()]
    assert labels[:15] == TICKERS[:15]
    assert labels[15] == "others (15)"
    bars = fig.axes[0].patches
    rest = sum(w for t, w in LAST if t not in TICKERS[:15])
    assert bars[15].get_width() == pytest.approx(rest)


def test_the_largest_constituents_over_time_are_those_of_the_last_date() -> None:
    fig = charts.top_weights_chart(HISTORY, "IBOV", n=5)
    names = fig.axes[0].get_legend_handles_labels()[1]
    assert names == TICKERS[:5]


def test_the_sector_charts_say_no_sector_data_when_the_capture_has_none() -> None:
    """CSV imports carry no sectors: a clean message, not an empty axis or an error."""
    day = charts.sector_chart([(None, w) for _, w in LAST], DAYS[-1], "IBOV")
    history = charts.sector_history_chart([(d, None, w) for d, _, w in HISTORY], "IBOV")
    for fig in (day, history):
        assert_drawn(decoded(fig))
        assert "no sector data" in charts.svg_text(fig)


def test_the_sector_history_draws_only_the_dates_with_sectors() -> None:
    """A period of CSV imports then API captures: the bands start where sectors do."""
    rows = [(d, None if d < DAYS[10] else s, w) for d, s, w in BY_SECTOR]
    fig = charts.sector_history_chart(rows, "IBOV")
    assert f"sectors known on {len(DAYS) - 10} of {len(DAYS)} dates" in fig.axes[0].get_title(
        loc="left"
    )
    assert_drawn(decoded(fig))


def test_empty_rows_give_a_chart_that_says_so() -> None:
    for fig in (
        charts.weights_chart([], DAYS[-1], "IBOV"),
        charts.top_weights_chart([], "IBOV"),
        charts.concentration_chart([], "IBOV"),
        charts.sector_history_chart([], "IBOV"),
    ):
        assert re.search(r"no (data|constituents|sector data)", charts.svg_text(fig))


def test_one_date_is_drawn_too() -> None:
    one = [row for row in HISTORY if row[0] == DAYS[0]]
    assert_drawn(decoded(charts.top_weights_chart(one, "IBOV")))
    sectors = [row for row in BY_SECTOR if row[0] == DAYS[0]]
    assert_drawn(decoded(charts.sector_history_chart(sectors, "IBOV")))


def test_svg_text_is_an_inline_svg_with_readable_text_and_no_url() -> None:
    svg = charts.svg_text(CHARTS["top_weights"]())
    assert svg.startswith("<svg ") and svg.endswith("</svg>")
    assert "<?xml" not in svg and "DOCTYPE" not in svg and "<metadata" not in svg
    assert not re.search(r"https?:|//", svg)
    texts = re.findall(r"<text\b[^>]*>([^<]*)</text>", svg)
    assert any("weights of the 8 largest constituents" in text for text in texts)
    assert "TK003" in texts


def test_svg_text_changes_no_global_setting_even_from_threads() -> None:
    before = matplotlib.rcParams["svg.fonttype"]
    figures = [CHARTS[name]() for name in sorted(CHARTS)] * 2
    with ThreadPoolExecutor(4) as pool:
        svgs = list(pool.map(charts.svg_text, figures))
    assert all("<text" in svg for svg in svgs)
    assert matplotlib.rcParams["svg.fonttype"] == before


def test_markdown_image_inlines_the_png_for_dagster() -> None:
    png = charts.png_bytes(CHARTS["weights"](), dpi=60)
    md = charts.markdown_image(png, "IBOV weights [2025-07-14]")
    match = re.fullmatch(r"!\[(.*)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", md)
    assert match is not None
    assert match.group(1) == r"IBOV weights \[2025-07-14\]"
    assert base64.b64decode(match.group(2)) == png
    assert b"Matplotlib" not in png  # no software chunk (and so no URL) in the image


def bars_of(ax) -> list[tuple[str, float, str]]:
    """(tick label, bar width, bar colour) of a horizontal bar panel, top to bottom."""
    labels = [label.get_text() for label in ax.get_yticklabels()]
    return [
        (label, bar.get_width(), to_hex(bar.get_facecolor()))
        for label, bar in zip(labels, ax.patches, strict=True)
    ]


def test_the_rebalance_chart_draws_entries_and_exits_sorted_by_weight() -> None:
    fig = charts.rebalance_chart(CHANGES, "IBOV", "2025-09", SESSION)
    upper, lower = fig.axes
    assert bars_of(upper) == [
        (t, pytest.approx(w), charts.ENTRY_COLOUR.lower())
        for t, w in sorted(ENTRIES.items(), key=lambda item: -item[1])
    ]
    assert bars_of(lower) == [
        (t, pytest.approx(w), charts.EXIT_COLOUR.lower())
        for t, w in sorted(EXITS.items(), key=lambda item: -item[1])
    ]
    assert upper.get_title(loc="left") == "Entering: 3"
    assert lower.get_title(loc="left") == "Leaving: 2"
    assert upper.get_xlabel() == "weight in the preview (%)"
    assert lower.get_xlabel() == "weight today (%)"
    # each bar is labelled with its weight, and both sides share one scale
    assert [t.get_text() for t in upper.texts] == ["1.25", "0.41", "0.09"]
    assert upper.get_xlim() == lower.get_xlim()
    title = fig.get_suptitle()
    assert "IBOV" in title and "Sep–Dec 2025" in title and "2025-08-28" in title
    assert "STAY3" not in charts.svg_text(fig)  # a name that stays is no bar
    assert_drawn(decoded(fig))


def test_the_rebalance_chart_says_none_for_an_empty_side() -> None:
    no_entries = charts.rebalance_chart(
        [r for r in CHANGES if r["tipo_mudanca"] != "entrada"], "IBOV", "2025-09", SESSION
    )
    upper, lower = no_entries.axes
    assert not upper.axison and len(upper.patches) == 0
    assert [t.get_text() for t in upper.texts] == ["none: the preview adds no name"]
    assert upper.get_title(loc="left") == "Entering: 0"
    assert [label for label, _, _ in bars_of(lower)] == ["OLDA3", "OLDB4"]

    no_exits = charts.rebalance_chart(
        [r for r in CHANGES if r["tipo_mudanca"] != "saida"], "IBOV", "2025-09", SESSION
    )
    upper, lower = no_exits.axes
    assert [label for label, _, _ in bars_of(upper)] == ["NEWB11", "NEWA3", "NEWC4"]
    assert not lower.axison and "none" in lower.texts[0].get_text()

    neither = charts.rebalance_chart(
        [change("STAY3", "permanece", 5.0, 5.5)], "IBOV", "2025-09", SESSION
    )
    assert all("none" in ax.texts[0].get_text() for ax in neither.axes)
    for fig in (no_entries, no_exits, neither):
        assert_drawn(decoded(fig))


def test_the_rebalance_chart_without_a_comparison_says_so() -> None:
    fig = charts.rebalance_chart([], "SMLL", "2026-01", date(2025, 12, 19))
    [ax] = fig.axes
    assert "SMLL" in ax.get_title(loc="left") and "Jan–Apr 2026" in ax.get_title(loc="left")
    assert "no comparison for the preview captured on 2025-12-19" in ax.texts[0].get_text()
    assert_drawn(decoded(fig))


def test_the_rebalance_chart_caps_each_side_and_counts_the_rest() -> None:
    many_in = [change(f"IN{n:02d}3", "entrada", None, 0.1 + n / 100) for n in range(20)]
    many_out = [change(f"OUT{n:02d}4", "saida", 0.2 + n / 100, None) for n in range(17)]
    fig = charts.rebalance_chart(many_in + many_out, "IBOV", "2025-09", SESSION)
    upper, lower = fig.axes
    assert [label for label, _, _ in bars_of(upper)] == [f"IN{n:02d}3" for n in range(19, 4, -1)]
    rest_in = sum(0.1 + n / 100 for n in range(5))
    assert upper.get_xlabel() == (
        f"weight in the preview (%)  ·  +5 more not shown ({rest_in:.2f}% together)"
    )
    assert len(bars_of(lower)) == 15
    assert "+2 more not shown" in lower.get_xlabel()
    assert upper.get_title(loc="left") == "Entering: 20"
    assert fig.get_figheight() <= 12.0
    assert_drawn(decoded(fig))


def test_the_rebalance_chart_takes_a_refines_whole_output_as_pyarrow_rows() -> None:
    """Dagster's metadata passes `table.to_pylist()`: Decimal weights, and rows of other
    sessions, indices and of the 'realizada' comparison, which the chart leaves out."""
    other_day = change("ELSE3", "entrada", None, 9.0, data=date(2025, 8, 27))
    other_index = change("SMAL3", "entrada", None, 9.0, indice="SMLL")
    realized = change("REAL3", "entrada", None, 9.0, comparacao="realizada")
    rows = [*CHANGES, other_day, other_index, realized]
    table = pa.Table.from_pylist(
        [
            {
                **row,
                "participacao_antes_pct": None
                if row["participacao_antes_pct"] is None
                else Decimal(str(row["participacao_antes_pct"])),
                "participacao_depois_pct": None
                if row["participacao_depois_pct"] is None
                else Decimal(str(row["participacao_depois_pct"])),
            }
            for row in rows
        ]
    )
    fig = charts.rebalance_chart(table.to_pylist(), "IBOV", "2025-09", SESSION)
    assert {label for label, _, _ in bars_of(fig.axes[0])} == set(ENTRIES)
    assert {label for label, _, _ in bars_of(fig.axes[1])} == set(EXITS)
    md = charts.markdown_image(charts.png_bytes(fig, dpi=60), "IBOV 2025-09 preview")
    assert md.startswith("![IBOV 2025-09 preview](data:image/png;base64,")


@pytest.mark.parametrize(
    ("label", "name"),
    [("2025-09", "Sep–Dec 2025"), ("2026-01", "Jan–Apr 2026"), ("2024-05", "May–Aug 2024")],
)
def test_quadrimesters_are_named_by_their_months(label: str, name: str) -> None:
    assert charts.quadrimester_name(label) == name


def test_a_label_that_is_no_quadrimester_is_refused() -> None:
    with pytest.raises(ValueError, match="quadrimester"):
        charts.quadrimester_name("2025-08")
