"""helpers.checks: one rule and one message for integer options."""

from __future__ import annotations

import numpy as np
import pytest

from babybias.helpers.checks import check_int, check_limit


def test_check_int_and_check_limit():
    assert check_int(np.int64(3), "n", 2) == 3 and check_int(None, "stride", 2, "the window") is None
    with pytest.raises(ValueError, match=r"^stride must be None \(the window\) or an integer >= 2, got 1$"):
        check_int(1, "stride", 2, "the window")
    with pytest.raises(ValueError, match=r"^reserve must be an integer >= 0, got None$"):
        check_int(None, "reserve", 0)  # None is allowed only where it means something
    with pytest.raises(ValueError, match="got True"):
        check_int(True, "n")
    assert check_limit(None) is None and check_limit(5) == 5
    with pytest.raises(ValueError, match=r"^limit must be None \(all examples\) or an integer >= 1, got 0$"):
        check_limit(0)
