"""Argument checks shared by every module: one rule, one message."""

from __future__ import annotations

import numbers


def check_int(value: int | None, option: str, low: int = 1, none_means: str | None = None) -> int | None:
    """``value`` as an int when it is an integer >= ``low`` (or ``None`` where ``none_means`` says what None is);
    else a ValueError naming ``option``."""
    if value is None and none_means is not None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        allowed = f"None ({none_means}) or an integer >= {low}" if none_means is not None else f"an integer >= {low}"
        raise ValueError(f"{option} must be {allowed}, got {value!r}")
    return int(value)


def check_limit(limit: int | None, option: str = "limit", none_means: str = "all examples") -> int | None:
    """``limit`` as an int when it is ``None`` (= ``none_means``) or an integer >= 1; else a ValueError naming ``option``."""
    return check_int(limit, option, 1, none_means)
