"""The data-quality rules: every real B3 day passes, each corruption fails exactly its rule."""

import copy
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from b3_assets.defs.lake_quality import session_before
from b3_assets.refine import quality
from b3_assets.source.csv_download import parse_portfolio_csv
from b3_assets.source.models import parse_b3_date, parse_ticker
from b3_assets.source.trading_calendar import B3_TIMEZONE, previous_session

DAY = date(2025, 7, 14)


def failing(findings) -> set[str]:
    return {finding.rule for finding in quality.failed(findings)}


def test_every_real_response_and_csv_download_passes(fixtures_dir, all_daily_csvs) -> None:
    responses = [
        json.loads(path.read_bytes()) for path in sorted(fixtures_dir.glob("portfolio_day_*.json"))
    ]
    downloads = [parse_portfolio_csv(p.read_bytes(), p.name) for p in all_daily_csvs]
    assert {d.index for d in downloads} == {"IBOV", "IBXX", "SMLL", "IDIV", "IFIX"}
    responses += [download.response for download in downloads]
    assert len(responses) >= 20
    for response in responses:
        day = parse_b3_date(response["header"]["date"])
        findings = quality.bronze_findings(response, day)
        assert [f.rule for f in findings] == [
            "count_matches_total_records",
            "weights_sum_to_100",
            "quantities_sum_to_header_total",
            "sector_weights_match_part_acum",
            "tickers_unique_and_b3_shaped",
            "header_date_is_partition",
        ]
        assert failing(findings) == set(), (day, quality.failed(findings))


def test_real_estate_funds_and_bdrs_pass_the_ticker_rule(fixtures_dir, seg2) -> None:
    ifix = parse_portfolio_csv((fixtures_dir / "IFIXDia_03-08-26.csv").read_bytes(), "IFIX.csv")
    funds = ifix.response["results"]
    assert {row["type"].split()[0] for row in funds} == {"CI"}
    assert all(row["cod"].endswith("11") for row in funds) and len(funds) == 106
    assert "CACR11" in {row["cod"] for row in funds}
    found = quality.bronze_findings(ifix.response, ifix.trading_date)
    assert failing(found) == set()
    [tickers] = [f for f in found if f.rule == "tickers_unique_and_b3_shaped"]
    assert tickers.message == "106 distinct B3 tickers"
    # BDRs (a 4-character root, 34/35/39; a digit in the root as in M1TA34): B3's July 14
    # response with five constituents traded as BDRs instead.
    bdrs = ["AAPL34", "M1TA34", "ROXO34", "NVDC34", "BERK35"]
    response = copy.deepcopy(seg2)
    for row, code in zip(response["results"], bdrs, strict=False):
        row["cod"], row["type"] = code, "DRN"
    assert failing(quality.bronze_findings(response, DAY)) == set()
    for code in bdrs:
        assert parse_ticker(code) == code


def _set(path: tuple, value) -> Callable[[dict], None]:
    def change(response: dict) -> None:
        target = response
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _duplicate_first(response: dict) -> None:
    response["results"][1]["cod"] = response["results"][0]["cod"]


def _drop_last(response: dict) -> None:
    response["results"].pop()


CORRUPTIONS = {
    "a row missing": (
        _drop_last,
        {
            "count_matches_total_records",
            "weights_sum_to_100",
            "quantities_sum_to_header_total",
            "sector_weights_match_part_acum",
        },
    ),
    "totalRecords wrong": (_set(("page", "totalRecords"), 85), {"count_matches_total_records"}),
    "a weight changed": (
        _set(("results", 0, "part"), "10,000"),
        {"weights_sum_to_100", "sector_weights_match_part_acum"},
    ),
    "a weight in the US locale": (
        _set(("results", 0, "part"), "11.375"),
        {"weights_sum_to_100", "sector_weights_match_part_acum"},
    ),
    "a quantity changed": (
        _set(("results", 3, "theoricalQty"), "1"),
        {"quantities_sum_to_header_total"},
    ),
    "a sector total changed": (
        _set(("results", 0, "partAcum"), "99,999"),
        {"sector_weights_match_part_acum"},
    ),
    "a ticker repeated": (_duplicate_first, {"tickers_unique_and_b3_shaped"}),
    "a ticker misshaped": (_set(("results", 5, "cod"), "vale3"), {"tickers_unique_and_b3_shaped"}),
    "a ticker missing": (_set(("results", 5, "cod"), None), {"tickers_unique_and_b3_shaped"}),
    "header of another day": (_set(("header", "date"), "15/07/25"), {"header_date_is_partition"}),
    "header date unreadable": (
        _set(("header", "date"), "2025-07-14"),
        {"header_date_is_partition"},
    ),
}


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_each_corruption_fails_its_rule(seg2: dict, name: str) -> None:
    change, expected = CORRUPTIONS[name]
    response = copy.deepcopy(seg2)
    change(response)
    findings = quality.bronze_findings(response, DAY)
    assert failing(findings) == expected
    for finding in quality.failed(findings):
        assert finding.message and finding.figures


def test_an_empty_or_shapeless_response_fails_without_raising() -> None:
    for response in ({}, {"page": None, "header": None, "results": None}, {"results": [{}]}):
        assert "count_matches_total_records" in failing(quality.bronze_findings(response, DAY))


def refined_rows(n: int = 4) -> tuple[list[dict], list[dict]]:
    weights = [Decimal("40.000"), Decimal("30.000"), Decimal("20.000"), Decimal("10.000")][:n]
    cumulative, ativos = Decimal(0), []
    for rank, weight in enumerate(weights, start=1):
        cumulative += weight
        ativos.append(
            {
                "indice": "IBOV", "empresa": f"CO{rank}", "tipo": "ON NM", "classe": "ON",
                "governanca": "NM", "setor": None, "participacao_pct": weight,
                "participacao_setor_pct": None, "qtd_teorica": 1000 * rank, "ranking": rank,
                "participacao_acumulada_pct": cumulative, "data_coleta": datetime(2025, 7, 14),
                "dias_desde_rebalanceamento": 74, "origem": "api", "data": "2025-07-14",
                "acao": f"ABCD{rank}",
            }
        )  # fmt: skip
    header = [
        {
            "indice": "IBOV", "data_carteira": DAY, "qtd_teorica_total": 10000,
            "redutor": Decimal(1), "participacao_total_pct": Decimal(100), "total_ativos": n,
            "data_coleta": datetime(2025, 7, 14), "defasagem_dias": 0, "origem": "api",
            "data": "2025-07-14",
        }
    ]  # fmt: skip
    return ativos, header


def refined_failing(ativos, header, bronze_rows=4) -> dict[str, set[str]]:
    found = quality.refined_findings(ativos, header, bronze_rows)
    return {table: failing(findings) for table, findings in found.items()}


def test_consistent_refined_rows_pass() -> None:
    assert refined_failing(*refined_rows()) == {"carteira_ativos": set(), "carteira_header": set()}


def test_an_import_has_no_capture_time_and_an_api_capture_must_have_one() -> None:
    ativos, header = refined_rows()
    imported = [dict(row, data_coleta=None, origem="csv") for row in ativos]
    imported_header = [dict(header[0], data_coleta=None, defasagem_dias=None, origem="csv")]
    assert refined_failing(imported, imported_header) == {
        "carteira_ativos": set(),
        "carteira_header": set(),
    }
    lost = [dict(row, data_coleta=None) for row in ativos]  # origem api
    assert refined_failing(lost, header)["carteira_ativos"] == {"required_columns_not_null"}
    unknown = [dict(header[0], origem=None)]
    assert refined_failing(ativos, unknown)["carteira_header"] == {"required_columns_not_null"}


def test_refined_corruptions_fail_their_rule() -> None:
    ativos, header = refined_rows()
    assert refined_failing(ativos[:3], header)["carteira_ativos"] == {
        "rows_match_bronze",
        "cumulative_weight_ends_at_100",
    }
    nulled = copy.deepcopy(ativos)
    nulled[2]["qtd_teorica"] = None
    assert refined_failing(nulled, header)["carteira_ativos"] == {"required_columns_not_null"}
    gap = copy.deepcopy(ativos)
    gap[3]["ranking"] = 5
    assert refined_failing(gap, header)["carteira_ativos"] == {"ranking_is_1_to_n"}
    repeat = copy.deepcopy(ativos)
    repeat[1]["ranking"] = 1
    assert "ranking_is_1_to_n" in refined_failing(repeat, header)["carteira_ativos"]
    short = copy.deepcopy(ativos)
    short[3]["participacao_acumulada_pct"] = Decimal("99.990")
    assert refined_failing(short, header)["carteira_ativos"] == {"cumulative_weight_ends_at_100"}
    assert refined_failing(ativos, header * 2)["carteira_header"] == {"header_has_one_row"}
    assert refined_failing(ativos, [])["carteira_header"] == {"header_has_one_row"}
    no_total = [dict(header[0], qtd_teorica_total=None)]
    assert refined_failing(ativos, no_total)["carteira_header"] == {"required_columns_not_null"}
    assert refined_failing([], header, 4)["carteira_ativos"] == {
        "rows_match_bronze",
        "cumulative_weight_ends_at_100",
    }


def test_drift_warns_on_membership_outside_a_rebalance_and_large_moves() -> None:
    before = {"VALE3": Decimal("11.000"), "PETR4": Decimal("7.000"), "ABEV3": Decimal("2.000")}
    same = quality.drift_finding((date(2025, 7, 11), before), (DAY, dict(before)))
    assert same.passed
    swapped = {"VALE3": Decimal("11.000"), "PETR4": Decimal("7.000"), "WEGE3": Decimal("2.000")}
    outside = quality.drift_finding((date(2025, 7, 11), before), (DAY, swapped))
    assert not outside.passed
    assert outside.figures["entered"] == ["WEGE3"] and outside.figures["left"] == ["ABEV3"]
    at_rebalance = quality.drift_finding((date(2025, 8, 29), before), (date(2025, 9, 1), swapped))
    assert at_rebalance.passed and at_rebalance.figures["rebalance_between"]
    moved = dict(before, VALE3=Decimal("12.001"))
    big = quality.drift_finding((date(2025, 7, 11), before), (DAY, moved))
    assert not big.passed and big.figures["moves_over_threshold"] == {"VALE3": 1.001}
    assert quality.drift_finding((date(2025, 7, 11), before), (DAY, moved), Decimal(2)).passed
    assert quality.drift_finding(None, (DAY, before)).passed


def test_drift_across_a_gap_says_there_is_no_comparison() -> None:
    before = {"VALE3": Decimal("11.000")}
    gap = quality.drift_finding(None, (DAY, {"PETR4": Decimal("50.000")}))
    assert gap.passed and gap.figures == {"compared_with": None}
    assert gap.message == (
        "the session before 2025-07-14 is not captured: no day-over-day comparison"
    )
    # The session before a date is B3's, not the calendar's: Friday before Monday, and the
    # last session before Carnival.
    assert session_before(DAY) == date(2025, 7, 11)
    assert session_before(date(2025, 3, 5)) == date(2025, 2, 28)
    assert (
        quality.drift_finding((date(2025, 7, 11), before), (DAY, before)).figures["compared_with"]
        == "2025-07-11"
    )


@pytest.mark.filterwarnings("ignore::dagster.PreviewWarning")
def test_drift_compares_only_with_the_same_indexs_previous_session(data_dir, seg2) -> None:
    """IBOV's July 11 lacks VALE3, SMLL's July 11 equals its July 14, IBXX has July 10 but not
    July 11: each index is compared with its own previous session, or with nothing."""
    import dagster as dg

    from b3_assets.capture.bronze import build_bronze
    from b3_assets.capture.raw import write_raw
    from b3_assets.defs.assets import asset_key, build_assets
    from b3_assets.defs.resources import resources_for
    from b3_assets.settings import Settings
    from b3_assets.source.b3_client import canonical_json

    def store(index: str, header_date: str, without: str | None = None) -> None:
        response = copy.deepcopy(seg2)
        response["header"]["date"] = header_date
        response["results"] = [r for r in response["results"] if r["cod"] != without]
        raw = canonical_json(response)
        capture, _ = write_raw(data_dir, raw, "test", datetime(2025, 7, 12, tzinfo=UTC), index)
        build_bronze(data_dir, capture.trading_date, index)

    store("IBOV", "11/07/25", without="VALE3")
    store("IBOV", "14/07/25")
    store("SMLL", "11/07/25")
    store("SMLL", "14/07/25")
    store("IBXX", "10/07/25", without="PETR4")  # not the session before July 14
    store("IBXX", "14/07/25")
    indices = ["IBOV", "IBXX", "SMLL"]
    bronze = [asset_key(index, "portfolio_bronze") for index in indices]
    drift_keys = [dg.AssetCheckKey(key, "day_over_day_drift") for key in bronze]
    result = dg.materialize(  # the bronze stage with its drift checks, B3 never asked
        build_assets(indices),
        selection=dg.AssetSelection.assets(*bronze) | dg.AssetSelection.checks(*drift_keys),
        resources=resources_for(Settings(data_dir=data_dir, api_url="http://127.0.0.1:9")),
        partition_key="2025-07-14",
    )
    assert result.success
    drift = {
        e.event_specific_data.asset_key.path[0]: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert set(drift) == set(indices)
    assert {e.check_name for e in drift.values()} == {"day_over_day_drift"}
    ibov, smll, ibxx = drift["IBOV"], drift["SMLL"], drift["IBXX"]
    assert ibov.metadata["compared_with"].value == "2025-07-11"
    assert not ibov.passed and list(ibov.metadata["entered"].value) == ["VALE3"]
    assert smll.metadata["compared_with"].value == "2025-07-11"
    assert smll.passed and list(smll.metadata["entered"].value) == []  # not IBOV's July 11
    assert ibxx.passed and ibxx.description == (
        "the session before 2025-07-14 is not captured: no day-over-day comparison"
    )
    assert all(e.severity == dg.AssetCheckSeverity.WARN for e in drift.values())


def test_rebalance_boundaries() -> None:
    assert quality.crosses_rebalance(date(2024, 12, 30), date(2025, 1, 2))
    assert quality.crosses_rebalance(date(2025, 4, 30), date(2025, 5, 2))
    assert not quality.crosses_rebalance(date(2025, 5, 2), date(2025, 8, 29))
    assert not quality.crosses_rebalance(date(2025, 9, 1), date(2025, 9, 2))


def test_freshness_against_the_previous_session() -> None:
    tuesday_morning = datetime(2025, 7, 15, 8, 0, tzinfo=B3_TIMEZONE)
    assert previous_session(tuesday_morning) == DAY
    monday = datetime(2025, 7, 14, 20, 0, tzinfo=B3_TIMEZONE)
    assert previous_session(monday) == date(2025, 7, 11)
    after_carnival = datetime(2025, 3, 5, 9, 0, tzinfo=B3_TIMEZONE)
    assert previous_session(after_carnival) == date(2025, 2, 28)
    assert quality.freshness_finding(DAY, DAY).passed
    assert quality.freshness_finding(date(2025, 7, 15), DAY).passed
    stale = quality.freshness_finding(date(2025, 7, 10), DAY)
    assert not stale.passed and stale.figures["newest_captured"] == "2025-07-10"
    assert not quality.freshness_finding(None, DAY).passed


# ---------------------------------------------------------------- B3's rounding of each weight


def preview_rows(total: Decimal, n: int) -> list[dict]:
    """n carteira_previa rows whose weights sum to `total`: n - 1 of 1.000, the rest last."""
    weights = [Decimal("1.000")] * (n - 1) + [total - (n - 1)]
    return [
        {"acao": f"TICK{i}", "participacao_pct": weight, "qtd_teorica": 1}
        for i, weight in enumerate(weights)
    ]


def preview_weights_rule(rows: list[dict]) -> quality.Finding:
    [finding] = [f for f in quality.preview_findings(rows) if f.rule == "weights_sum_to_100"]
    return finding


def test_the_rounding_bound_is_half_a_thousandth_per_weight() -> None:
    assert quality.rounding_bound(1) == Decimal("0.0005")
    assert quality.rounding_bound(86) == Decimal("0.043")
    assert quality.rounding_bound(92) == Decimal("0.046")
    assert quality.rounding_bound(0) == 0
    assert isinstance(quality.rounding_bound(86), Decimal)  # exact, no float


@pytest.mark.parametrize(("n", "bound_text"), [(1, "0.0005"), (86, "0.043")])
@pytest.mark.parametrize("direction", [1, -1], ids=["above", "below"])
def test_a_preview_passes_at_the_rounding_bound_and_fails_0_001_past_it(
    n: int, bound_text: str, direction: int
) -> None:
    bound = Decimal(bound_text)  # n × 0.0005, written out
    at_edge = 100 + direction * bound
    edge = preview_weights_rule(preview_rows(at_edge, n))
    assert edge.passed, edge.message
    past = 100 + direction * (bound + Decimal("0.001"))
    beyond = preview_weights_rule(preview_rows(past, n))
    assert not beyond.passed
    assert beyond.message == (
        f"{n} weights sum to {past} (100 ± {bound_text} expected: {n} weights rounded to 3 places)"
    )
    assert beyond.figures == {"sum_participacao_pct": float(past), "rows": n, "bound": float(bound)}


def test_a_quadrimester_file_of_86_rounded_weights_passes_and_99_fails() -> None:
    """B3's IBOVQuad_5-2023.csv: 86 weights summing to 99.998 (its total line says 100,000);
    IBOVQuad_9-2023.csv: 99.999. A sum of 99.0 is not rounding."""
    for total in ("99.998", "99.999", "100.001"):
        assert preview_weights_rule(preview_rows(Decimal(total), 86)).passed
    wrong = preview_weights_rule(preview_rows(Decimal("99.000"), 86))
    assert not wrong.passed
    assert wrong.message.startswith("86 weights sum to 99.000 (100 ± 0.043 expected")


def test_the_daily_portfolio_keeps_the_exact_rule(seg2: dict) -> None:
    """B3's daily total is exact (100,000 on every real day): 0.002 off fails even with 84
    weights, whose rounding alone would allow 0.042."""

    def weights_rule(extra: str) -> quality.Finding:
        response = copy.deepcopy(seg2)
        row = response["results"][0]
        row["part"] = f"{Decimal(row['part'].replace(',', '.')) + Decimal(extra):.3f}"
        row["part"] = row["part"].replace(".", ",")
        [found] = [
            f for f in quality.bronze_findings(response, DAY) if f.rule == "weights_sum_to_100"
        ]
        return found

    assert quality.rounding_bound(len(seg2["results"])) > Decimal("0.002")
    for extra in ("0.001", "-0.001"):
        assert weights_rule(extra).passed
    for extra, total in (("0.002", "100.002"), ("-0.002", "99.998")):
        found = weights_rule(extra)
        assert not found.passed
        assert found.message == f"the weights sum to {total} (100 ± 0.001 expected)"
