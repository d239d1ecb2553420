"""The effect estimator: planted effects recovered, nominal coverage under the null, item values exact."""

from __future__ import annotations

import numpy as np
import pytest

from babybias.experiment import estimate_effect, item_values, verdict_line


def _simulate(rng, effect: float, n_seeds: int, n_items: int, seed_sd: float, item_sd: float, noise_sd: float):
    """Per-seed, per-item values of a baseline and a condition sharing items (and seeds, paired).

    value[s, i] = item difficulty i + seed offset s (shared by the pair of cells of that seed: same
    initialisation and batch order) + the condition's own seed-level deviation + per-(cell, item)
    noise; the condition adds ``effect``. Each cell's score is the mean of its item values.
    """
    items = rng.normal(0, item_sd, n_items)
    base, cond = {}, {}
    for s in range(n_seeds):
        shared = rng.normal(0, seed_sd)
        base[s] = items + shared + rng.normal(0, seed_sd) + rng.normal(0, noise_sd, n_items)
        cond[s] = items + shared + rng.normal(0, seed_sd) + effect + rng.normal(0, noise_sd, n_items)
    return base, cond


def _effect(base, cond, **kw):
    return estimate_effect({s: float(v.mean()) for s, v in base.items()}, {s: float(v.mean()) for s, v in cond.items()},
                           baseline_items=base, condition_items=cond, **kw)


def test_a_planted_effect_is_recovered_with_intervals_that_cover_it():
    rng = np.random.default_rng(1)
    base, cond = _simulate(rng, effect=-1.5, n_seeds=4, n_items=400, seed_sd=0.1, item_sd=1.0, noise_sd=0.5)
    e = _effect(base, cond, name="cda", metric="m", n_resamples=999)
    assert e.estimate == pytest.approx(-1.5, abs=0.25)
    assert e.seeds.low < -1.5 < e.seeds.high and e.seeds.n == 4 and e.seeds.method == "t"
    assert e.items.low < e.estimate < e.items.high and e.items.n == 400
    assert e.items.estimate == pytest.approx(e.estimate)  # item means are the scores: one estimate
    assert e.distinguishable is True and e.p_seeds < 0.01
    assert "distinguishable from noise" in verdict_line(e) and "NOT" not in verdict_line(e)


def test_seed_interval_covers_zero_in_about_95_percent_of_null_simulations():
    """Null: no effect; seed-level deviations dominate (the sandbox case: one model per seed and cell)."""
    rng = np.random.default_rng(2)
    sims, covered, called = 400, 0, 0
    for _ in range(sims):
        base, cond = _simulate(rng, effect=0.0, n_seeds=4, n_items=30, seed_sd=0.3, item_sd=1.0, noise_sd=0.2)
        e = estimate_effect({s: float(v.mean()) for s, v in base.items()}, {s: float(v.mean()) for s, v in cond.items()})
        covered += e.seeds.low <= 0 <= e.seeds.high
        called += bool(e.distinguishable)
    assert 0.92 <= covered / sims <= 0.98, covered / sims
    assert called / sims <= 0.08  # the verdict claims an effect no more often than the interval misses


def test_item_interval_covers_zero_in_about_95_percent_of_null_simulations():
    """Null with item noise only (no seed-to-seed variation): the paired bootstrap over items is nominal."""
    rng = np.random.default_rng(3)
    sims, covered, rejected = 200, 0, 0
    for k in range(sims):
        base, cond = _simulate(rng, effect=0.0, n_seeds=2, n_items=200, seed_sd=0.0, item_sd=1.0, noise_sd=1.0)
        e = _effect(base, cond, n_resamples=499, seed=k)
        covered += e.items.low <= 0 <= e.items.high
        rejected += e.items.p_value < 0.05
    assert 0.91 <= covered / sims <= 0.99, covered / sims
    assert rejected / sims <= 0.09


def test_one_seed_gives_no_verdict_and_says_why():
    e = estimate_effect({0: 1.0}, {0: 0.2}, name="cda", metric="m")
    assert e.distinguishable is None and np.isnan(e.seeds.low) and e.estimate == pytest.approx(-0.8)
    assert "one seed only" in verdict_line(e)


def test_seeds_are_paired_and_unpaired_seeds_dropped():
    e = estimate_effect({0: 1.0, 1: 2.0, 2: 5.0}, {1: 2.5, 2: 5.5, 3: 9.0})
    assert e.per_seed == {1: 0.5, 2: 0.5} and e.estimate == pytest.approx(0.5)
    assert e.p_seeds == 0.0 and e.distinguishable is True  # the same shift at every shared seed
    with pytest.raises(ValueError, match="no seed has both cells"):
        estimate_effect({0: 1.0}, {1: 1.0})


def test_item_counts_must_agree():
    with pytest.raises(ValueError, match="evaluated on different items"):
        estimate_effect({0: 1.0, 1: 1.0}, {0: 1.0, 1: 1.0}, baseline_items={0: np.ones(3), 1: np.ones(3)},
                        condition_items={0: np.ones(4), 1: np.ones(4)})


@pytest.fixture(scope="module")
def evaluation():
    """Every sandbox benchmark on a tiny random GPT-BERT (a few items each)."""
    import torch

    from babybias.experiment import SandboxConfig, evaluate_cell_model
    from babybias.models import GptBertConfig, GptBertForCausalLM, train_tokenizer
    from babybias.testing import shipped_sentences

    torch.manual_seed(0)
    tok = train_tokenizer(shipped_sentences(per_paradigm=4), vocab_size=300, kind="bpe", min_frequency=2)
    model = GptBertForCausalLM(GptBertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1,
                                             num_attention_heads=2, intermediate_size=48)).eval()
    config = SandboxConfig(bias_limit=40, blimp_limit=3)
    return evaluate_cell_model(model, tok, config)


def test_item_values_average_to_the_reported_scores(evaluation):
    """Every metric with item values: their plain mean equals the benchmark's own score (macro weights included)."""
    from babybias.experiment import summarize

    rows = {name: res.rows for name, res in evaluation.benchmarks.items()}
    scores = summarize(evaluation.scores)
    checked = []
    for key, value in scores.items():
        v = item_values(key, rows)
        if v is None:
            continue
        assert np.mean(v) == pytest.approx(value, abs=1e-9), key
        checked.append(key)
    must = {"gender_log_odds/winobias/mean_log_odds", "gender_log_odds/templates/mean_log_odds",
            "gender_log_odds/winobias/male_share", "gender_log_odds/winobias/male_occupations/mean_log_odds",
            "crows_pairs/overall", "crows_pairs/gender", "stereoset/overall/ss", "stereoset/gender/ss",
            "stereoset/overall/lms", "winobias/gap", "winobias/bias", "winobias/pro", "winobias/type1/gap",
            "blimp/overall", "blimp/micro"}
    assert must <= set(checked), must - set(checked)
    assert item_values("composite_bias", rows) is None and item_values("blimp/field/syntax", rows) is None
    assert item_values("crows_pairs/no-such-type", rows) is None


def test_macro_means_get_per_item_weights():
    """BLiMP overall is the mean of per-paradigm accuracies: 3 right of 3 and 0 of 1 is 50, not 75."""
    import pandas as pd

    rows = {"blimp": pd.DataFrame({"UID": ["a", "a", "a", "b"], "correct": [True, True, True, False]})}
    assert np.mean(item_values("blimp/overall", rows)) == pytest.approx(50.0)
    assert np.mean(item_values("blimp/micro", rows)) == pytest.approx(75.0)


def test_supplement_and_ewok_overall_are_macro_means_over_their_groups():
    import pandas as pd

    frame = pd.DataFrame({"task": ["a", "a", "a", "b"], "domain": ["x", "y", "y", "y"], "correct": [1, 1, 1, 0]})
    assert np.mean(item_values("blimp_supplement/overall", {"blimp_supplement": frame})) == pytest.approx(50.0)
    assert np.mean(item_values("ewok/overall", {"ewok": frame})) == pytest.approx((100.0 + 200 / 3) / 2)
