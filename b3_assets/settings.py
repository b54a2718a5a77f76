"""Every B3_* variable, read once and typed (README.md and docs/aws.md list them)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from b3_contract.lake_keys import check_index

DEFAULT_API_URL = "https://sistemaswebb3-listados.b3.com.br/indexProxy/indexCall"


class SettingsError(ValueError):
    """The B3_* environment does not describe a usable deployment."""


class Settings(BaseSettings):
    """The environment of one process; resources and the CLI take their defaults from here."""

    model_config = SettingsConfigDict(env_prefix="B3_", extra="ignore")

    env: Literal["local", "aws"] = "local"
    data_dir: Path = Path("./data")
    api_url: str = DEFAULT_API_URL
    indices: str = "IBOV"  # B3_INDICES: the comma list scheduled captures and `b3 run` fetch
    segment: Literal[1, 2] = 2
    page_size: int = Field(default=120, ge=1, le=1000)
    http_timeout: float = Field(default=20.0, gt=0)
    http_retries: int = Field(default=4, ge=0, le=10)
    bucket: str | None = None
    glue_job: str = "b3-refine"
    glue_database: str = "b3_refined"
    glue_role: str = "b3-lake-glue"  # a role name `b3 deploy` creates, or an existing role's ARN
    athena_workgroup: str = "primary"
    athena_output: str | None = None
    glue_runner: Literal["aws", "local"] = "aws"
    trigger: Literal["lambda", "dagster"] = "lambda"

    @field_validator("indices")
    @classmethod
    def _index_list(cls, value: str) -> str:
        codes = [code.strip().upper() for code in value.split(",") if code.strip()]
        if not codes:
            raise ValueError("B3_INDICES is empty: give B3 index codes, like IBOV,SMLL")
        for code in codes:
            check_index(code)
        return ",".join(dict.fromkeys(codes))

    @property
    def index_codes(self) -> tuple[str, ...]:
        """The configured indices, in the order given, without repeats."""
        return tuple(self.indices.split(","))

    @property
    def lambda_refines(self) -> bool:
        """On AWS with B3_TRIGGER=lambda the Lambda starts Glue for every new raw object, so
        Dagster's own runs stop at the lake object (never both launch Glue for one object)."""
        return self.env == "aws" and self.trigger == "lambda"

    @property
    def data_path(self) -> Path:
        return self.data_dir.expanduser().resolve()
