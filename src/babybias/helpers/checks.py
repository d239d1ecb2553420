"""Argument checks shared by every module: one rule, one message."""

from __future__ import annotations

import numbers


def check_limit(limit: int | None, option: str = "limit", none_means: str = "all examples") -> int | None:
    """``limit`` as an int when it is ``None`` (= ``none_means``) or an integer >= 1; else a ValueError naming ``option``."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, numbers.Integral) or limit < 1:
        raise ValueError(f"{option} must be None ({none_means}) or an integer >= 1, got {limit!r}")
    return int(limit)
