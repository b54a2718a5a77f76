"""b3_contract: the rules the code location, the Glue job and the Lambda share."""

from __future__ import annotations

from datetime import date

import pytest

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
