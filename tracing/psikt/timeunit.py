"""The learner model's clock: time is measured in days (the forgetting rate is per day).

The one definition of the unit: the log loaders turn timestamps in seconds into days here, and the
Django side (``tracing.services``, ``tracing.selectors``) turns datetimes into days and back here.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

SECONDS_PER_DAY = 86400.0


def days_from_seconds(seconds: float) -> float:
    """Seconds since the Unix epoch as days since the epoch."""
    return float(seconds) / SECONDS_PER_DAY


def days_from_datetime(at: datetime) -> float:
    """An aware datetime as days since the Unix epoch."""
    return at.timestamp() / SECONDS_PER_DAY


def datetime_from_days(days: float, tz: tzinfo) -> datetime:
    """Days since the Unix epoch as an aware datetime in ``tz``."""
    return datetime.fromtimestamp(days * SECONDS_PER_DAY, tz=tz)
