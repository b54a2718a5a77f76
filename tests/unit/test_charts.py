"""The charts: each draws a real picture from plain rows, with or without sectors, and turns into
a PNG, an inline SVG with no URL, and a Dagster markdown image."""

from __future__ import annotations

import base64
import io
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import matplotlib
import pytest
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
