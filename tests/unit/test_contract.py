"""b3_contract: the rules the code location, the Glue job and the Lambda share."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from b3_contract.glue_runs import glue_run_dates, runs_refining, started_by_dagster
from b3_contract.lake_keys import raw_key_date, raw_object_key


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("raw/2025-07-14/dados_originais.parquet", date(2025, 7, 14)),
        ("raw/2025-07-14/dados originais (cópia).parquet", None),
        ("raw/2024-02-29/dados_originais.parquet", date(2024, 2, 29)),
        ("raw/2024-02-29/x.parquet", None),
        ("raw/2025-07-14/dados_originais.parquet/", None),
        ("raw/2025-07-14/DADOS_ORIGINAIS.parquet", None),
        ("raw/2025-02-30/dados_originais.parquet", None),
        ("raw/2025-7-14/dados_originais.parquet", None),
        ("raw/2025-07-14/dados_originais.parquet.tmp", None),
        ("raw/2025-07-14/.hidden.parquet", None),
        ("raw/2025-07-14/../../glue/refine_job.parquet", None),
        ("raw/2025-07-14/sub/dados_originais.parquet", None),
        ("raw/2025-07-14/.parquet", None),
        ("raw/2025-07-14/a\nb.parquet", None),
        ("/raw/2025-07-14/dados_originais.parquet", None),
        ("refined/ativos/data=2025-07-14/acao=PETR4/part-0.parquet", None),
        ("raw/latest/dados_originais.parquet", None),
        ("", None),
    ],
)
def test_only_the_bronze_file_of_a_real_date_is_a_raw_object(key, expected):
    """The one rule the Lambda, the raw/ sensor and the refine share."""
    assert raw_key_date(key) == expected
    if expected is not None:
        assert raw_object_key(expected) == key


def test_glue_run_dates_and_origin():
    run = {"Id": "jr_1", "Arguments": {"--dates": "2025-07-15,2025-07-14,2025-07-14"}}
    assert glue_run_dates(run) == [date(2025, 7, 14), date(2025, 7, 15)]
    assert not started_by_dagster(run)
    assert started_by_dagster({"Arguments": {"--dagster-pipes-context": "e30="}})
    with pytest.raises(ValueError, match=r"jr_2 has a bad --dates entry '\.\./x'"):
        glue_run_dates({"Id": "jr_2", "Arguments": {"--dates": "2025-07-14,../x"}})
    with pytest.raises(ValueError, match="no --dates"):
        glue_run_dates({"Id": "jr_3"})


def test_runs_refining_names_active_runs_of_the_same_dates_and_bucket() -> None:
    def run(run_id, state, dates, bucket="b"):
        return {"Id": run_id, "JobRunState": state,
                "Arguments": {"--dates": dates, "--bucket": bucket}}  # fmt: skip

    runs = [
        run("jr_1", "RUNNING", "2025-07-11,2025-07-14"),
        run("jr_2", "SUCCEEDED", "2025-07-14"),
        run("jr_3", "STARTING", "2025-07-14", bucket="other"),
        run("jr_4", "WAITING", "2025-07-15"),
        run("jr_5", "RUNNING", "not-a-date"),
        run("jr_6", "STOPPING", "2025-07-15,2025-07-16"),
    ]
    days = [date(2025, 7, 14), date(2025, 7, 16)]
    assert runs_refining(runs, days, "b") == {
        "jr_1": [date(2025, 7, 14)],
        "jr_6": [date(2025, 7, 16)],
    }
    assert runs_refining(runs, [date(2025, 7, 17)], "b") == {}
    # the Lambda counts only runs started since the S3 event (older ones read the old object)
    started = {"jr_1": datetime(2025, 7, 14, 9, tzinfo=UTC), "jr_6": None}
    timed = [dict(r, StartedOn=started.get(r["Id"])) for r in runs]
    assert runs_refining(timed, days, "b", datetime(2025, 7, 14, 8, tzinfo=UTC)) == {
        "jr_1": [date(2025, 7, 14)]
    }
    assert runs_refining(timed, days, "b", datetime(2025, 7, 14, 10, tzinfo=UTC)) == {}
