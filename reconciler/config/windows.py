"""Config stage: run windows (quiet hours, #16): times in which no writes are made.

Settings, an import policy or a customer declare `quietHours`: days of the week,
a start and an end time of day in an IANA time zone (DST follows the zone), and
optionally which writes they close (integration kinds and `email` for welcome
emails; none listed: every write, state included). Reads and plans still run;
`core/windows.py` decides whether a plan's writes fall into one.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from reconciler.config.base import Model
from reconciler.integrations.kinds import IntegrationKind

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EMAIL = "email"  # welcome emails (R16), beside the integration kinds
WRITE_TARGETS = (*(k.value for k in IntegrationKind), EMAIL)
Target = Literal[tuple(WRITE_TARGETS)]  # type: ignore[valid-type]
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")


def clock_time(text: str) -> time:
    """HH:MM as a time of day (not 24:00, which the core reads as the next midnight)."""
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


class QuietHours(Model):
    """A time in which no writes are made: from `start` to `end` (local time in
    `timeZone`) on each of `days`. An end at or before the start runs past midnight
    into the next day (22:00-06:00). Only the writes to `integrations` wait (kinds
    and `email`); none listed: every write of an apply."""

    name: str = Field(
        default="", max_length=63, pattern=r"^[A-Za-z0-9 _.-]*$", description="Shown in messages."
    )
    days: tuple[Day, ...] = Field(default=DAYS, description="Days the window starts on.")
    start: str = Field(description="HH:MM, local time in timeZone.")
    end: str = Field(description="HH:MM (24:00 = midnight at the end of the day).")
    time_zone: str = Field(description="IANA time zone, e.g. Europe/Berlin; DST follows the zone.")
    integrations: tuple[Target, ...] = Field(  # type: ignore[valid-type]
        default=(),
        description="Writes this window closes (itglue, hudu, connectwise, autotask, halo, email); none: all.",
    )

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError(f"must be a time of day as HH:MM (00:00-23:59, or 24:00), got {value!r}")
        return value

    @field_validator("start")
    @classmethod
    def _start(cls, value: str) -> str:
        if value == "24:00":
            raise ValueError("a window starts at 00:00-23:59; 24:00 is only an end")
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            if value != value.strip() or not value or value.startswith("/") or ".." in value:
                raise ValueError
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown IANA time zone {value!r} (e.g. Europe/Berlin, America/New_York, UTC)"
            ) from None
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if not self.days:
            raise ValueError("days is empty: the window would never start (leave it out for every day)")
        if self.start == self.end:
            raise ValueError("start and end are the same time: the window would be empty")
        return self

    @property
    def label(self) -> str:
        return self.name or f"{self.start}-{self.end} {self.time_zone}"
