"""B3 serves only the current portfolio, under its own header date: the policy for what a
capture may store under which trading date."""

from __future__ import annotations

from datetime import date

from b3_assets.source.b3_client import B3ApiError
from b3_assets.source.models import format_b3_date
from b3_assets.source.trading_calendar import non_trading_kind


class DateNotServedError(RuntimeError):
    """B3 serves another date than the one asked for; B3 has no date parameter."""


def not_served_message(asked: date, served: date, index: str = "IBOV") -> str:
    csv = f"{index}Dia_{asked.strftime('%d-%m-%y')}.csv"
    return (
        f"B3 is serving the portfolio of {served}, not {asked}. B3 has no date parameter: it "
        f"serves only the current portfolio, so {asked} can only come from data already captured "
        f"or from B3's CSV download of that day: `b3 import {csv}`. Nothing was written."
    )


def check_served_date(served: date) -> date:
    """B3's header date must be a BVMF session: anything else is a B3 fault, never a partition."""
    try:
        kind = non_trading_kind(served)
    except ValueError as exc:
        raise B3ApiError(f"B3's header date {format_b3_date(served)} is unusable: {exc}") from None
    if kind:
        raise B3ApiError(
            f"B3's header date {format_b3_date(served)} ({served}, {kind}) is not a B3 trading "
            "day; refusing to store a portfolio under it. Nothing was written."
        )
    return served
