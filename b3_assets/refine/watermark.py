"""What the sensors decide, without Dagster or boto3: which lake objects and Glue runs are new
since the last look. The rules about keys and Glue runs they share with the Lambda live in
b3_contract."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Watermark:
    """A sensor cursor: everything up to `since` was handled, plus the ids handled at exactly
    `since`. Compact whatever the history, and safe across restarts: items are selected by the
    moment they appeared, not by their position in a listing."""

    since: datetime | None = None
    ids: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, cursor: str | None) -> Watermark:
        if not cursor:
            return cls()
        try:
            data = json.loads(cursor)
            since = datetime.fromisoformat(data["since"]) if data.get("since") else None
            return cls(since, frozenset(data.get("ids", [])))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"unreadable sensor cursor {cursor!r}: {exc}") from None

    def serialize(self) -> str:
        since = self.since.isoformat() if self.since else None
        return json.dumps({"since": since, "ids": sorted(self.ids)})

    def select(
        self, items: Iterable[T], moment: Callable[[T], datetime], ident: Callable[[T], str]
    ) -> tuple[list[T], Watermark]:
        """The items not handled yet (oldest first) and the watermark once they are."""
        fresh = [
            item
            for item in items
            if self.since is None
            or moment(item) > self.since
            or (moment(item) == self.since and ident(item) not in self.ids)
        ]
        fresh.sort(key=lambda item: (moment(item), ident(item)))
        if not fresh:
            return [], self
        newest = moment(fresh[-1])
        at_newest = {ident(item) for item in fresh if moment(item) == newest}
        if newest == self.since:
            at_newest |= self.ids
        return fresh, Watermark(newest, frozenset(at_newest))
