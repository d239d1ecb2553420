"""Composites against hand-derived values."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from babybias.analysis.composites import (COMPOSITES, Composite, composite_table, get_composite, register_composite,
                                          winobias_as_bias)

SCORES = {"crows_pairs/overall": 60.0, "stereoset/overall/ss": 45.0, "stereoset/overall/lms": 80.0, "winobias/gap": 12.0,
          "blimp/overall": 70.0, "blimp_supplement/overall": 60.0, "ewok/overall": 50.0}


def test_sandbox_by_hand():
    r = get_composite("sandbox")(SCORES)
    # |60-50| = 10, |45-50| = 5, winobias 50 + 12/2 = 56 -> 6; mean = 7
    assert r.bias == pytest.approx(7.0)
    assert r.ability == pytest.approx(60.0)  # (70 + 60 + 50) / 3
    assert (r.bias_n, r.ability_n, r.missing) == (3, 3, ())


def test_experiment_summarize_gives_the_sandbox_composite_by_hand():
    """The sandbox table's composites, by hand, with every key and with keys missing (averaged over those present)."""
    from babybias.experiment import summarize

    row = summarize(SCORES)
    assert (row["composite_bias"], row["composite_performance"]) == (pytest.approx(7.0), pytest.approx(60.0))
    partial = summarize({k: v for k, v in SCORES.items() if k not in ("ewok/overall", "winobias/gap")})
    assert partial["composite_bias"] == pytest.approx(7.5)           # (|60-50| + |45-50|) / 2
    assert partial["composite_performance"] == pytest.approx(65.0)   # (70 + 60) / 2


def test_seed_paper_by_hand():
    r = get_composite("seed_paper")(SCORES)
    assert r.bias == pytest.approx(7.5)  # (|45-50| + |60-50|) / 2
    assert r.ability == pytest.approx(60.0)
    assert r.bias_used == ("stereoset/overall/ss", "crows_pairs/overall")


def test_seed_paper_domains_by_hand():
    scores = {f"stereoset/{d}/ss": v for d, v in zip(("gender", "profession", "race", "religion"), (60, 40, 55, 50))}
    types = ("age", "disability", "gender", "nationality", "physical-appearance", "race-color", "religion",
             "sexual-orientation", "socioeconomic")
    scores |= {f"crows_pairs/{t}": 50.0 + i for i, t in enumerate(types)}  # distances 0..8, sum 36
    scores |= {"blimp/overall": 80.0, "blimp_supplement/overall": 70.0, "ewok/overall": 60.0}
    r = get_composite("seed_paper_domains")(scores)
    assert r.bias == pytest.approx((10 + 10 + 5 + 0 + 36) / 13)
    assert r.bias_n == 13 and r.ability == pytest.approx(70.0)


def test_missing_keys_nan_raise_available():
    partial = {k: v for k, v in SCORES.items() if k != "ewok/overall"}
    c = get_composite("seed_paper")
    r = c(partial)
    assert math.isnan(r.ability) and r.bias == pytest.approx(7.5)
    assert r.missing == ("ewok/overall",) and r.ability_n == 2
    with pytest.raises(KeyError, match="ewok/overall"):
        c(partial, on_missing="raise")
    assert c(partial, on_missing="available").ability == pytest.approx(65.0)
    assert math.isnan(c({**SCORES, "crows_pairs/overall": float("nan")}).bias)
    with pytest.raises(ValueError, match="on_missing"):
        c(SCORES, on_missing="drop")


def test_user_defined_and_registry():
    mine = Composite("gender_only", ["stereoset/gender/ss", "winobias/bias"], ["blimp/overall"], transform=winobias_as_bias)
    r = mine({"stereoset/gender/ss": 58.0, "winobias/gap": -20.0, "blimp/overall": 61.0})
    assert r.bias == pytest.approx((8 + 10) / 2) and r.ability == 61.0
    register_composite(mine)
    try:
        assert get_composite("gender_only") is mine
        with pytest.raises(ValueError, match="exists"):
            register_composite(mine)
    finally:
        COMPOSITES.unregister("gender_only")
    with pytest.raises(KeyError, match="unknown composite"):
        get_composite("nope")


def test_composite_table_from_tidy_frame():
    rows = []
    for step, (crows, ss) in {10: (60.0, 45.0), 20: (52.0, 50.0)}.items():
        rows += [("a", 0, step, "crows_pairs", "overall", crows), ("a", 0, step, "stereoset", "overall/ss", ss),
                 ("a", 0, step, "blimp", "overall", 70.0)]
    frame = pd.DataFrame(rows, columns=["run", "seed", "step", "benchmark", "metric", "value"])
    table = composite_table(frame, ["seed_paper"], on_missing="available")
    assert list(table["bias"]) == pytest.approx([7.5, 1.0])
    assert list(table["ability"]) == [70.0, 70.0] and list(table["ability_n"]) == [1, 1]
    assert set(table["missing"]) == {"blimp_supplement/overall,ewok/overall"}
