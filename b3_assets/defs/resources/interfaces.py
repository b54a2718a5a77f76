"""What the assets need, as interfaces: a source, a capture store, a lake, a refiner, a catalog."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from b3_assets.capture.bronze import (
    bronze_dates,
    bronze_path,
    build_bronze,
    response_from_bronze,
)
from b3_assets.capture.previews import (
    PreviewCapture,
    build_preview_bronze,
    capture_previews,
    preview_bronze_path,
    read_preview_capture,
)
from b3_assets.capture.previews import raw_dir as preview_raw_dir
from b3_assets.capture.raw import Capture, capture_portfolio, raw_json_path, read_capture
from b3_assets.lake.local import LakeObject, StoredObject
from b3_assets.refine.catalog import QueryResult
from b3_assets.settings import DEFAULT_API_URL
from b3_assets.source.b3_client import (
    THEORETICAL_METHODS,
    B3ApiError,
    B3Client,
    FetchedPortfolio,
    FetchedTheoretical,
    TheoreticalKind,
    canonical_json,
    is_none_served,
)
from b3_assets.source.served_date import check_served_date
from b3_assets.source.trading_calendar import current_session
from b3_assets.testing.sample import sample_portfolio, sample_theoretical
from b3_contract.lake_keys import Unit
from b3_contract.origins import API, SAMPLE, SAMPLE_SOURCE


class B3ApiResource(dg.ConfigurableResource):
    """B3's GetPortfolioDay, or with `offline` the bundled generator of realistic responses.

    The sample is invented data: its captures have origin `amostra` (b3_contract.origins), B3's
    data replaces them, and they never replace B3's. `offline=True` is an explicit choice in
    itself, so any session gets its sample here, past ones too; the `b3` CLI asks for
    `--sample-past-session` before it writes the sample of a past session.
    """

    api_url: str = DEFAULT_API_URL
    segment: int = 2
    page_size: int = 120
    timeout: float = 20.0
    retries: int = 4
    offline: bool = False

    def fetch(self, index: str, day: date | None = None) -> FetchedPortfolio:
        """The portfolio B3 serves now for `index`. Offline, the sample of `day` (default:
        today's session)."""
        if self.offline:
            response = sample_portfolio(day or current_session(), self.segment, index)
            source = f"{SAMPLE_SOURCE}GetPortfolioDay/{index}/segment-{self.segment}"
            return FetchedPortfolio(
                canonical_json(response), response, source, datetime.now(UTC), 1
            )
        client = B3Client(
            self.api_url, index, self.segment, self.page_size, self.timeout, self.retries
        )
        return client.fetch()

    @property
    def origin(self) -> str:
        """The origin of what this source gives: `api`, or `amostra` offline."""
        return SAMPLE if self.offline else API

    def fetcher(self) -> Callable[[Unit], FetchedPortfolio]:
        """A fetch for one run: B3 is called at most once per index (it serves one portfolio
        whatever the date asked), and a failure is not retried for every date of a range;
        offline, each unit gets its own sample."""
        if self.offline:
            return lambda unit: self.fetch(unit.index, unit.day)
        answers: dict[str, FetchedPortfolio | B3ApiError] = {}

        def fetch(unit: Unit) -> FetchedPortfolio:
            if unit.index not in answers:
                try:
                    answers[unit.index] = self.fetch(unit.index)
                except B3ApiError as exc:
                    answers[unit.index] = exc
            answer = answers[unit.index]
            if isinstance(answer, B3ApiError):
                raise B3ApiError(str(answer))
            return answer

        return fetch

    def fetch_theoretical(
        self, index: str, kind: TheoreticalKind, day: date | None = None
    ) -> FetchedTheoretical:
        """B3's preview or theoretical portfolio of `index` now (pt-BR, every page). Offline,
        the sample of `day` (default: today's session): a preview only in the weeks before a
        rebalance, as B3 does."""
        if self.offline:
            response = sample_theoretical(day or current_session(), kind, index)
            source = f"{SAMPLE_SOURCE}{THEORETICAL_METHODS[kind]}/{index}"
            return FetchedTheoretical(
                kind,
                index,
                "pt-br",
                not is_none_served(response),
                canonical_json(response),
                response,
                source,
                datetime.now(UTC),
                1,
            )
        client = B3Client(
            self.api_url, index, self.segment, self.page_size, self.timeout, self.retries
        )
        return client.fetch_theoretical(kind)

    def served_date(self, index: str = "IBOV") -> date:
        if self.offline:
            return current_session()
        return check_served_date(self.fetch(index).portfolio.trading_date)


class CaptureStoreResource(dg.ConfigurableResource):
    """The raw and bronze layers under $B3_DATA_DIR, one folder per (index, date)."""

    data_dir: str

    @property
    def root(self) -> Path:
        return Path(self.data_dir)

    def capture(
        self, unit: Unit, fetch: Callable[[Unit], FetchedPortfolio], origin: str = API
    ) -> tuple[Capture, bool]:
        return capture_portfolio(self.root, unit.day, unit.index, lambda: fetch(unit), origin)

    def held_capture(self, unit: Unit) -> Capture | None:
        return read_capture(self.root, unit.day, unit.index)

    def has_capture(self, unit: Unit) -> bool:
        return self.held_capture(unit) is not None

    def raw_path(self, unit: Unit) -> Path:
        return raw_json_path(self.root, unit.day, unit.index)

    def bronze(self, unit: Unit) -> tuple[Path, pa.Table, bool]:
        return build_bronze(self.root, unit.day, unit.index)

    def bronze_path(self, unit: Unit) -> Path:
        return bronze_path(self.root, unit.day, unit.index)

    def has_bronze(self, unit: Unit) -> bool:
        return self.bronze_path(unit).exists()

    def bronze_response(self, unit: Unit) -> dict[str, Any]:
        """The response object the bronze file of `unit` holds (what the quality rules read)."""
        return response_from_bronze(pq.read_table(self.bronze_path(unit)))

    def bronze_dates(self, index: str) -> list[date]:
        return bronze_dates(self.root, index)

    def capture_previews(
        self, unit: Unit, fetch: Callable[[str], FetchedTheoretical] | None, origin: str = API
    ) -> tuple[PreviewCapture | None, bool]:
        return capture_previews(self.root, unit, fetch, origin)

    def preview_capture(self, unit: Unit) -> PreviewCapture | None:
        return read_preview_capture(self.root, unit)

    def preview_raw_dir(self, unit: Unit) -> Path:
        return preview_raw_dir(self.root, unit)

    def preview_bronze(self, unit: Unit) -> tuple[Path | None, pa.Table | None, bool]:
        return build_preview_bronze(self.root, unit)

    def preview_bronze_path(self, unit: Unit) -> Path:
        return preview_bronze_path(self.root, unit)


class Lake(Protocol):
    def put_file(self, key: str, source: Path) -> LakeObject: ...

    def exists(self, key: str) -> bool: ...

    def uri(self, key: str) -> str: ...

    def list_objects(self, prefix: str) -> list[StoredObject]: ...

    def read_bytes(self, key: str) -> bytes: ...


class LakeResource(dg.ConfigurableResource):
    """The bucket: a local folder in the embedded default (LocalLake), S3 on AWS (S3Lake)."""

    @property
    @abstractmethod
    def lake(self) -> Lake: ...

    def put_file(self, key: str, source: Path) -> LakeObject:
        return self.lake.put_file(key, source)

    def exists(self, key: str) -> bool:
        return self.lake.exists(key)

    def uri(self, key: str) -> str:
        return self.lake.uri(key)

    def list_objects(self, prefix: str) -> list[StoredObject]:
        return self.lake.list_objects(prefix)

    def read_table(self, prefix: str) -> pa.Table | None:
        """Every Parquet file under prefix as one table, with the hive partition values of its
        key (`indice=...`, `data=...`, `acao=...`) as string columns; None if there is none."""
        tables = [
            with_partition_values(
                pq.read_table(pa.BufferReader(self.lake.read_bytes(item.key))), item.key
            )
            for item in self.lake.list_objects(prefix)
            if item.key.endswith(".parquet")
        ]
        return pa.concat_tables(tables, promote_options="default") if tables else None


def with_partition_values(table: pa.Table, path: str) -> pa.Table:
    """Adds the `name=value` segments of path as string columns the table does not have."""
    for part in path.split("/"):
        name, sep, value = part.partition("=")
        if sep and name not in table.column_names:
            table = table.append_column(name, pa.array([value] * table.num_rows))
    return table


@dataclass(frozen=True)
class TableOutput:
    """What a refine run wrote for one table."""

    location: str
    rows: int
    files: int
    rows_by_unit: dict[Unit, int]
    preview: pa.Table | None = None
    details: dict[str, Any] = field(default_factory=dict)  # engine facts for the metadata


class RefinerResource(dg.ConfigurableResource):
    """Runs the refine SQL of glue/sql for many (index, date) units in one engine run and
    replaces exactly their partitions."""

    @abstractmethod
    def refine(
        self, context: dg.AssetExecutionContext, lake: LakeResource, units: list[Unit]
    ) -> dict[str, TableOutput]: ...

    @abstractmethod
    def refine_previews(
        self, context: dg.AssetExecutionContext, lake: LakeResource, units: list[Unit]
    ) -> dict[str, TableOutput]:
        """carteira_previa and carteira_previa_mudancas for preview units (index, capture
        session) from their previa/raw/ objects, in one engine run (b3_contract.previews plans
        which change lists it rewrites). Never writes a daily table."""


class QueryResource(dg.ConfigurableResource):
    """Read-only Athena SQL on the refined tables: DuckDB over the local catalog, or Athena."""

    @abstractmethod
    def query(self, sql: str) -> QueryResult:
        """The rows; QueryError (refine.catalog) says why a query is refused or failed."""


class CatalogResource(dg.ConfigurableResource):
    """Makes the refined partitions queryable: DuckDB views locally, Glue Data Catalog on AWS."""

    count_unit: ClassVar[str] = "rows"  # what register() counts per table and unit

    @abstractmethod
    def register(self, lake: LakeResource, units: list[Unit]) -> dict[str, dict[Unit, int]]:
        """Makes the units' partitions queryable in every table (carteira_* and the IBOV
        tables); returns what it counts per table and unit."""

    def register_previews(self, lake: LakeResource) -> None:
        """Makes new preview partitions queryable. On AWS the Glue job registers the partitions
        it writes, so there is nothing left to do; the local catalog refreshes its views."""

    @abstractmethod
    def describe(self) -> str: ...
