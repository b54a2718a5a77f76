"""b3_contract: the rules the code location, the Glue job and the Lambda share."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from b3_assets import contract_docs
from b3_contract.glue_runs import (
    UNITS_ARGUMENT,
    glue_run_units,
    parse_units,
    runs_refining,
    started_by_dagster,
    units_argument,
)
from b3_contract.glue_tables import all_table_inputs, partition_input, unit_expression
from b3_contract.lake_keys import (
    IndexCodeError,
    Unit,
    check_index,
    partition_prefix,
    raw_key_unit,
    raw_object_key,
)
from b3_contract.tables import (
    ALL_TABLE_NAMES,
    ANALYTIC_TABLES,
    CATALOG_TABLES,
    COMMENT_LIMIT,
    INDEX_TABLES,
    PREVIEW_TABLES,
    TABLES,
)

IBOV_0714 = Unit("IBOV", date(2025, 7, 14))


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("raw/IBOV/2025-07-14/dados_originais.parquet", IBOV_0714),
        ("raw/IBXX/2025-07-14/dados_originais.parquet", Unit("IBXX", date(2025, 7, 14))),
        ("raw/IFIX/2026-08-03/dados_originais.parquet", Unit("IFIX", date(2026, 8, 3))),
        ("raw/IBOV/2025-07-14/dados originais (cópia).parquet", None),
        ("raw/IBOV/2024-02-29/dados_originais.parquet", Unit("IBOV", date(2024, 2, 29))),
        ("raw/IBOV/2024-02-29/x.parquet", None),
        ("raw/IBOV/2025-07-14/dados_originais.parquet/", None),
        ("raw/IBOV/2025-07-14/DADOS_ORIGINAIS.parquet", None),
        ("raw/IBOV/2025-02-30/dados_originais.parquet", None),
        ("raw/IBOV/2025-7-14/dados_originais.parquet", None),
        ("raw/IBOV/2025-07-14/dados_originais.parquet.tmp", None),
        ("raw/IBOV/2025-07-14/.hidden.parquet", None),
        ("raw/IBOV/2025-07-14/../../glue/refine_job.parquet", None),
        ("raw/IBOV/2025-07-14/sub/dados_originais.parquet", None),
        ("raw/IBOV/2025-07-14/.parquet", None),
        ("raw/IBOV/2025-07-14/a\nb.parquet", None),
        ("/raw/IBOV/2025-07-14/dados_originais.parquet", None),
        ("refined/ativos/indice=IBOV/data=2025-07-14/acao=PETR4/part-0.parquet", None),
        ("raw/IBOV/latest/dados_originais.parquet", None),
        # the index as B3 writes it: capitals and digits, 3 to 10 of them
        ("raw/ibov/2025-07-14/dados_originais.parquet", None),
        ("raw/IB/2025-07-14/dados_originais.parquet", None),
        ("raw/1BOV/2025-07-14/dados_originais.parquet", None),
        ("raw/IBOVESPA1234/2025-07-14/dados_originais.parquet", None),
        ("raw/IB-OV/2025-07-14/dados_originais.parquet", None),
        ("raw/../2025-07-14/dados_originais.parquet", None),
        ("raw//2025-07-14/dados_originais.parquet", None),
        ("raw/IBOV/IBXX/2025-07-14/dados_originais.parquet", None),
        # the earlier IBOV-only layout (no index in the key) starts nothing
        ("raw/2025-07-14/dados_originais.parquet", None),
        ("raw/2024-02-29/dados_originais.parquet", None),
        ("", None),
    ],
)
def test_only_the_bronze_file_of_a_real_unit_is_a_raw_object(key, expected):
    """The one rule the Lambda, the raw/ sensor and the refine share."""
    assert raw_key_unit(key) == expected
    if expected is not None:
        assert raw_object_key(expected) == key


def test_unit_text_round_trips_and_names_what_it_refuses() -> None:
    for unit in (IBOV_0714, Unit("SMLL", date(2024, 10, 22)), Unit("IBXX", date(2000, 1, 3))):
        assert Unit.parse(str(unit)) == unit
    assert str(IBOV_0714) == "IBOV/2025-07-14"
    assert Unit.parse(" IBOV/2025-07-14 ") == IBOV_0714
    for bad in ("2025-07-14", "IBOV", "IBOV/2025-02-30", "ibov/2025-07-14", "IBOV/2025-7-14", ""):
        with pytest.raises(ValueError, match="is not INDEX/YYYY-MM-DD"):
            Unit.parse(bad)
    with pytest.raises(IndexCodeError, match="'../x' is not a B3 index code"):
        Unit("../x", date(2025, 7, 14))
    assert check_index("IDIV") == "IDIV"
    # Units order by index, then date.
    later_ibov = Unit("IBOV", date(2025, 7, 15))
    assert sorted([later_ibov, Unit("IBXX", date(2025, 7, 1)), IBOV_0714]) == [
        IBOV_0714,
        later_ibov,
        Unit("IBXX", date(2025, 7, 1)),
    ]


def test_partition_prefix_holds_the_index_then_the_date() -> None:
    assert partition_prefix("refined/ativos", IBOV_0714) == (
        "refined/ativos/indice=IBOV/data=2025-07-14/"
    )
    ibxx = partition_prefix("refined/ativos", Unit("IBXX", date(2025, 7, 14)))
    assert not ibxx.startswith(partition_prefix("refined/ativos", IBOV_0714))


def test_units_argument_and_parse_units_round_trip() -> None:
    units = [Unit("IBXX", date(2025, 7, 14)), IBOV_0714, IBOV_0714, Unit("IBOV", date(2025, 7, 11))]
    text = units_argument(units)
    assert text == "IBOV/2025-07-11,IBOV/2025-07-14,IBXX/2025-07-14"  # sorted, no repeats
    assert parse_units(text) == sorted(set(units))
    assert parse_units(" IBXX/2025-07-14 , IBOV/2025-07-14,,") == [
        IBOV_0714,
        Unit("IBXX", date(2025, 7, 14)),
    ]
    with pytest.raises(ValueError, match="no INDEX/YYYY-MM-DD units given"):
        parse_units(" , ")
    with pytest.raises(ValueError, match=r"'2025-07-14' is not INDEX/YYYY-MM-DD"):
        parse_units("IBOV/2025-07-14,2025-07-14")  # a --dates value of the earlier job


def test_glue_run_units_and_origin():
    run = {
        "Id": "jr_1",
        "Arguments": {"--units": "IBXX/2025-07-14,IBOV/2025-07-15,IBXX/2025-07-14"},
    }
    assert UNITS_ARGUMENT == "--units"
    assert glue_run_units(run) == [Unit("IBOV", date(2025, 7, 15)), Unit("IBXX", date(2025, 7, 14))]
    assert not started_by_dagster(run)
    assert started_by_dagster({"Arguments": {"--dagster-pipes-context": "e30="}})
    with pytest.raises(ValueError, match=r"jr_2: --units '\.\./x' is not INDEX/YYYY-MM-DD"):
        glue_run_units({"Id": "jr_2", "Arguments": {"--units": "IBOV/2025-07-14,../x"}})
    with pytest.raises(ValueError, match="jr_3: --units no INDEX/YYYY-MM-DD units given"):
        glue_run_units({"Id": "jr_3"})
    with pytest.raises(ValueError, match="jr_4: --units no INDEX"):  # the earlier argument
        glue_run_units({"Id": "jr_4", "Arguments": {"--dates": "2025-07-14"}})


def test_runs_refining_names_active_runs_of_the_same_units_and_bucket() -> None:
    def run(run_id, state, units, bucket="b"):
        return {"Id": run_id, "JobRunState": state,
                "Arguments": {"--units": units, "--bucket": bucket}}  # fmt: skip

    runs = [
        run("jr_1", "RUNNING", "IBOV/2025-07-11,IBOV/2025-07-14"),
        run("jr_2", "SUCCEEDED", "IBOV/2025-07-14"),
        run("jr_3", "STARTING", "IBOV/2025-07-14", bucket="other"),
        run("jr_4", "WAITING", "IBOV/2025-07-15"),
        run("jr_5", "RUNNING", "not-a-unit"),
        run("jr_6", "STOPPING", "IBOV/2025-07-15,IBXX/2025-07-16"),
        run("jr_7", "RUNNING", "IBXX/2025-07-14,SMLL/2025-07-14"),  # same date, other indices
        {"Id": "jr_8", "JobRunState": "RUNNING", "Arguments": {"--dates": "2025-07-14"}},
    ]
    units = [IBOV_0714, Unit("IBXX", date(2025, 7, 16))]
    assert runs_refining(runs, units, "b") == {
        "jr_1": [IBOV_0714],
        "jr_6": [Unit("IBXX", date(2025, 7, 16))],
    }
    assert runs_refining(runs, [Unit("IBOV", date(2025, 7, 17))], "b") == {}
    # Another index of a busy date is not busy.
    assert runs_refining(runs, [Unit("IDIV", date(2025, 7, 14))], "b") == {}
    assert runs_refining(runs, [Unit("SMLL", date(2025, 7, 14))], "b") == {
        "jr_7": [Unit("SMLL", date(2025, 7, 14))]
    }
    # the Lambda counts only runs started since the S3 event (older ones read the old object)
    started = {"jr_1": datetime(2025, 7, 14, 9, tzinfo=UTC), "jr_6": None}
    timed = [dict(r, StartedOn=started.get(r["Id"])) for r in runs]
    assert runs_refining(timed, units, "b", datetime(2025, 7, 14, 8, tzinfo=UTC)) == {
        "jr_1": [IBOV_0714]
    }
    assert runs_refining(timed, units, "b", datetime(2025, 7, 14, 10, tzinfo=UTC)) == {}


def test_glue_tables_define_the_nine_tables_over_the_same_locations() -> None:
    inputs = {table["Name"]: table for table in all_table_inputs("bkt")}
    assert list(inputs) == list(ALL_TABLE_NAMES)
    carteira, ibov = inputs["carteira_ativos"], inputs["ibov_ativos"]
    assert [k["Name"] for k in carteira["PartitionKeys"]] == ["indice", "data", "acao"]
    assert [k["Name"] for k in ibov["PartitionKeys"]] == ["data", "acao"]
    assert carteira["StorageDescriptor"]["Location"] == "s3://bkt/refined/ativos/"
    assert ibov["StorageDescriptor"]["Location"] == "s3://bkt/refined/ativos/indice=IBOV/"
    # ibov_* reads `indice` from the files, first, as the seed's table did
    first = ibov["StorageDescriptor"]["Columns"][0]
    assert (first["Name"], first["Type"]) == ("indice", "string")
    assert "indice" not in [c["Name"] for c in carteira["StorageDescriptor"]["Columns"]]
    header = TABLES["carteira_header"]
    location = "s3://bkt/refined/header/"
    partition = partition_input(header, location, ["IBXX", "2025-07-14"])
    assert partition["StorageDescriptor"]["Location"] == (
        "s3://bkt/refined/header/indice=IBXX/data=2025-07-14/"
    )
    assert unit_expression(header, IBOV_0714) == "indice = 'IBOV' AND data = '2025-07-14'"
    assert unit_expression(INDEX_TABLES["ibov_header"], IBOV_0714) == "data = '2025-07-14'"
    historico = ANALYTIC_TABLES["carteira_historico"]
    assert unit_expression(historico, IBOV_0714) == "indice = 'IBOV' AND mes = '2025-07'"
    assert [k["Name"] for k in inputs["carteira_historico"]["PartitionKeys"]] == ["indice", "mes"]


EVERY_TABLE = [*CATALOG_TABLES.values(), *INDEX_TABLES.values()]


@pytest.mark.parametrize("table", EVERY_TABLE, ids=lambda t: t.name)
def test_every_column_of_every_table_says_what_it_means(table) -> None:
    """The contract describes each column once, in words Glue takes as a column comment: a
    column added without a description (or a description left for a removed one) fails."""
    names = [name for name, _ in table.columns]
    assert sorted(table.descriptions) == sorted(names), table.name
    for name, kind, description in table.described_columns:
        assert description == description.strip() and len(description) >= 10, (name, description)
        assert len(description) <= COMMENT_LIMIT, (table.name, name, len(description))
        assert "|" not in description and "\n" not in description, (table.name, name)
        assert kind == dict(table.columns)[name]
    assert [n for n, _, _ in table.described_columns] == names


def test_the_tables_are_all_described_and_the_ibov_indice_says_ibov() -> None:
    assert {t.name for t in EVERY_TABLE} == set(ALL_TABLE_NAMES)
    assert {*TABLES, *ANALYTIC_TABLES, *PREVIEW_TABLES} == set(CATALOG_TABLES)
    ibov = INDEX_TABLES["ibov_ativos"]
    carteira = TABLES["carteira_ativos"]
    assert "IBOV" in ibov.descriptions["indice"]
    assert ibov.descriptions["indice"] != carteira.descriptions["indice"]
    for name in ("empresa", "participacao_pct", "data", "acao"):  # the same files, same words
        assert ibov.descriptions[name] == carteira.descriptions[name]
    # carteira_historico keeps carteira_ativos' columns, and says the same of them
    historico = ANALYTIC_TABLES["carteira_historico"]
    for name, _ in historico.data_columns:
        assert historico.descriptions[name] == carteira.descriptions[name], name


def test_glue_columns_and_partition_keys_carry_the_descriptions_as_comments() -> None:
    """What `b3 deploy`, the Glue job and the template write: every column's Comment is the
    contract's description (Athena's console shows it)."""
    inputs = {table["Name"]: table for table in all_table_inputs("bkt")}
    for table in EVERY_TABLE:
        wanted = inputs[table.name]
        entries = wanted["PartitionKeys"] + wanted["StorageDescriptor"]["Columns"]
        assert sorted(e["Name"] for e in entries) == sorted(n for n, _ in table.columns)
        for entry in entries:
            assert entry["Comment"] == table.descriptions[entry["Name"]], (table.name, entry)
    header = TABLES["carteira_header"]
    partition = partition_input(header, "s3://bkt/refined/header/", ["IBOV", "2025-07-14"])
    comments = {c["Name"]: c["Comment"] for c in partition["StorageDescriptor"]["Columns"]}
    assert comments == {name: header.descriptions[name] for name, _ in header.data_columns}


def test_the_readme_column_tables_are_the_contracts() -> None:
    """README.md's "The tables" section shows each table's columns as the contract says them;
    after a contract change `python -m b3_assets.contract_docs` rewrites it, or this fails."""
    text = contract_docs.README.read_text(encoding="utf-8")
    assert contract_docs.render_readme(text) == text, "run python -m b3_assets.contract_docs"
    section = text[text.index("## The tables") : text.index("## Honest limits")]
    for table in CATALOG_TABLES.values():
        for name, _, description in table.described_columns:
            assert f"| `{name}` |" in section and f"| {description} |" in section, name
    # what a new user reads stays: the intros and the example queries
    assert section.count("```sql") == 4 and "**`carteira_mudancas`**: *who entered" in section


def test_a_stale_or_missing_readme_column_table_is_caught() -> None:
    text = contract_docs.README.read_text(encoding="utf-8")
    description = TABLES["carteira_header"].descriptions["redutor"]
    stale = text.replace(f"| {description} |", "| the reducer |")
    assert stale != text and contract_docs.render_readme(stale) == text
    start = text.index("<!-- columns of carteira_setores:")
    end = text.index("<!-- end of columns -->", start) + len("<!-- end of columns -->")
    with pytest.raises(contract_docs.StaleError, match="carteira_setores"):
        contract_docs.render_readme(text[:start] + text[end:])


def test_the_templates_glue_tables_are_written_from_the_contract() -> None:
    """infra/template.yaml's AWS::Glue::Table resources are what the generator writes from
    all_table_inputs, column comments included (tests/infra compares them as data too)."""
    text = contract_docs.TEMPLATE.read_text(encoding="utf-8")
    assert contract_docs.render_template(text) == text, "run python -m b3_assets.contract_docs"
    comment = TABLES["carteira_ativos"].descriptions["ranking"]
    assert f'Comment: "{comment}"' in text
    with pytest.raises(contract_docs.StaleError):
        contract_docs.render_template(text.replace(contract_docs.TEMPLATE_END, ""))


def test_contract_docs_check_says_which_file_is_stale_and_the_rewrite_fixes_it(
    tmp_path, monkeypatch, capsys
) -> None:
    readme, template = tmp_path / "README.md", tmp_path / "infra" / "template.yaml"
    template.parent.mkdir()
    readme.write_text(contract_docs.README.read_text(encoding="utf-8"), encoding="utf-8")
    current = contract_docs.TEMPLATE.read_text(encoding="utf-8")
    comment = TABLES["carteira_ativos"].descriptions["ranking"]
    template.write_text(current.replace(comment, "old words"), encoding="utf-8")
    monkeypatch.setattr(contract_docs, "ROOT", tmp_path)
    monkeypatch.setattr(contract_docs, "README", readme)
    monkeypatch.setattr(contract_docs, "TEMPLATE", template)
    assert contract_docs.main(["--check"]) == 1
    assert capsys.readouterr().out == "infra/template.yaml: stale from b3_contract/tables.py\n"
    assert "old words" in template.read_text(encoding="utf-8")  # --check changes nothing
    assert contract_docs.main([]) == 0
    assert template.read_text(encoding="utf-8") == current
    assert contract_docs.main(["--check"]) == 0
