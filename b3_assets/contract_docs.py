"""The places outside the code that show the table contract, written from it: the column tables
of README.md's "The tables" section and infra/template.yaml's Glue tables (with the column
comments `b3 deploy` and the Glue job write). The column descriptions are said once, in
b3_contract/tables.py; this keeps the two files equal to it.

    python -m b3_assets.contract_docs           # rewrite the generated parts
    python -m b3_assets.contract_docs --check   # exit 1, naming the file, if one is stale

Only the marked parts are written: the README's intros and example queries, and the rest of the
template, stay as people wrote them. Standard library and b3_contract only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from b3_contract.glue_tables import all_table_inputs
from b3_contract.tables import CATALOG_TABLES, RefinedTable

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TEMPLATE = ROOT / "infra" / "template.yaml"

README_BLOCK = re.compile(
    r"(<!-- columns of (?P<name>\w+): written from b3_contract/tables\.py by "
    r"`python -m b3_assets\.contract_docs` -->\n)(?P<body>.*?)(<!-- end of columns -->)",
    re.DOTALL,
)
TEMPLATE_BEGIN = "  # BEGIN Glue tables, written by `python -m b3_assets.contract_docs`\n"
TEMPLATE_END = "  # END Glue tables\n"
BUCKET = "BUCKET-PLACEHOLDER"  # all_table_inputs' bucket, written back as ${BucketName}


class StaleError(ValueError):
    """A file lacks the markers of its generated part."""


def column_table(table: RefinedTable) -> str:
    """A table's columns as a markdown table: name, type (partitions marked) and meaning."""
    lines = ["| column | type | meaning |", "|---|---|---|"]
    for name, kind, description in table.described_columns:
        where = f"{kind}, partition" if name in table.partition_by else kind
        lines.append(f"| `{name}` | {where} | {description.replace('|', chr(92) + '|')} |")
    return "\n".join(lines) + "\n"


def render_readme(text: str) -> str:
    """README.md with every marked column table written from the contract; a marked table the
    contract does not know, or a table of the contract without a marked place, is an error."""
    seen: list[str] = []

    def block(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in CATALOG_TABLES:
            raise StaleError(f"README.md marks columns of {name}, which is no table")
        seen.append(name)
        return match[1] + "\n" + column_table(CATALOG_TABLES[name]) + "\n" + match[4]

    rendered = README_BLOCK.sub(block, text)
    missing = [name for name in CATALOG_TABLES if name not in seen]
    if missing:
        raise StaleError(f"README.md has no marked column table of {', '.join(missing)}")
    return rendered


YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "y", "n", "null"}


def _scalar(value: str) -> str:
    """A YAML string as the template writes it: plain when it can only be read as that string,
    else double-quoted (JSON's escapes are YAML's)."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", value) and value.lower() not in YAML_WORDS:
        return value
    return json.dumps(value, ensure_ascii=False)


def _column(column: dict[str, str]) -> str:
    fields = ", ".join(f"{key}: {_scalar(value)}" for key, value in column.items())
    return f"{{{fields}}}"


def _resource(table: dict[str, Any]) -> list[str]:
    storage = table["StorageDescriptor"]
    location = storage["Location"].replace(BUCKET, "${BucketName}")
    logical = "GlueTable" + "".join(part.title() for part in table["Name"].split("_"))
    lines = [
        f"  {logical}:",
        "    Type: AWS::Glue::Table",
        "    Properties:",
        "      CatalogId: !Ref AWS::AccountId",
        "      DatabaseName: !Ref GlueDatabase",
        "      TableInput:",
        f"        Name: {table['Name']}",
        f"        Description: {json.dumps(table['Description'], ensure_ascii=False)}",
        f"        TableType: {table['TableType']}",
        "        Parameters:",
        *(f"          {k}: {_scalar(v)}" for k, v in table["Parameters"].items()),
        "        PartitionKeys:",
        *(f"          - {_column(key)}" for key in table["PartitionKeys"]),
        "        StorageDescriptor:",
        f'          Location: !Sub "{location}"',
        "          Columns:",
        *(f"            - {_column(column)}" for column in storage["Columns"]),
        f"          InputFormat: {storage['InputFormat']}",
        f"          OutputFormat: {storage['OutputFormat']}",
        "          SerdeInfo:",
        f"            SerializationLibrary: {storage['SerdeInfo']['SerializationLibrary']}",
        "            Parameters:",
        *(
            f"              {k}: {_scalar(v)}"
            for k, v in storage["SerdeInfo"]["Parameters"].items()
        ),
    ]
    return lines


def glue_tables_yaml() -> str:
    """The template's AWS::Glue::Table resources: b3_contract.glue_tables.all_table_inputs."""
    blocks = ["\n".join(_resource(table)) + "\n" for table in all_table_inputs(BUCKET)]
    return "\n".join(blocks)


def render_template(text: str) -> str:
    """infra/template.yaml with the part between its Glue-tables markers written anew."""
    start, end = text.find(TEMPLATE_BEGIN), text.find(TEMPLATE_END)
    if start < 0 or end < start:
        raise StaleError(f"infra/template.yaml lacks the markers {TEMPLATE_BEGIN.strip()!r}")
    head = text[: start + len(TEMPLATE_BEGIN)]
    return head + glue_tables_yaml() + text[end:]


def main(argv: list[str] | None = None) -> int:
    """Rewrites README.md's column tables and the template's Glue tables (or, with --check,
    says which is stale); 0 when both are current."""
    parser = argparse.ArgumentParser(prog="python -m b3_assets.contract_docs")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    stale = []
    for path, render in ((README, render_readme), (TEMPLATE, render_template)):
        text = path.read_text(encoding="utf-8")
        wanted = render(text)
        if wanted == text:
            continue
        stale.append(path.relative_to(ROOT).as_posix())
        if not args.check:
            path.write_text(wanted, encoding="utf-8")
    for name in stale:
        print(f"{name}: {'stale' if args.check else 'rewritten'} from b3_contract/tables.py")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
