"""compare_debiasing: every method on every model over seeds, the response table, and its CCA input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from babybias.corpus import CDA
from babybias.debias import INLP, SelfDebias, SentDebias
from babybias.experiment import ContinuedPretraining, compare_debiasing
from babybias.testing import shipped_sentences
from babybias.train import AttributeSubspaceLoss, get_recipe


@pytest.fixture(scope="module")
def two_models():
    from transformers import BertConfig, BertForMaskedLM

    from babybias.models import LtgBertConfig, LtgBertForMaskedLM, train_tokenizer

    tok = train_tokenizer(shipped_sentences(per_paradigm=4), vocab_size=400, kind="wordpiece", min_frequency=2)
    torch.manual_seed(0)
    small = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=48)
    bert = BertForMaskedLM(BertConfig(vocab_size=len(tok), max_position_embeddings=128, **small)).eval()
    ltg = LtgBertForMaskedLM(LtgBertConfig(vocab_size=len(tok), **small)).eval()
    return {"bert": (bert, tok), "ltg": (ltg, tok)}


def test_compare_debiasing_tabulates_changes_with_intervals_and_feeds_cca(two_models):
    from babybias.analysis import cca_alignment

    cpt = get_recipe("bias_bench_cpt", steps=2, batch_size=4, grad_accumulation=1, seq_length=32, log_every=1)
    methods = {"inlp": INLP(n_iterations=3, n_per_class=60), "sent-debias": SentDebias(max_pairs=80),
               "self-debias": SelfDebias(), "cda-cpt": ContinuedPretraining(cpt, intervention=CDA(), steps=2),
               "ase-cpt": ContinuedPretraining(cpt, steps=2, loss_hooks=lambda m, t: [AttributeSubspaceLoss(m, t)])}
    corpus = shipped_sentences(per_paradigm=3)
    result = compare_debiasing(two_models, methods, ["gender_log_odds", "crows_pairs"], seeds=(0, 1), corpus=corpus,
                               limit=6, n_resamples=99)
    table = result.table
    assert set(table["model"]) == {"bert", "ltg"} and set(table["method"]) == set(methods)
    row = table[(table["model"] == "bert") & (table["method"] == "inlp")
                & (table["metric"] == "gender_log_odds/winobias/mean_log_odds")].iloc[0]
    s = result.scores
    per_seed = s[(s["model"] == "bert") & (s["method"] == "inlp") & (s["metric"] == row["metric"])]["value"]
    before = s[(s["model"] == "bert") & (s["method"] == "none") & (s["metric"] == row["metric"])]["value"].item()
    assert row["before"] == pytest.approx(before) and row["change"] == pytest.approx(per_seed.mean() - before)
    assert row["n_seeds"] == 2 and row["n_items"] > 0 and np.isfinite(row["seeds_low"])
    # Self-Debias has no seed: both seeds give one result, a zero-width seed interval
    sd = table[(table["method"] == "self-debias") & (table["model"] == "ltg")].iloc[0]
    assert sd["seeds_low"] == pytest.approx(sd["seeds_high"])
    x = result.responses("bert")
    assert result.responses("ltg").shape == x.shape == (5, 4) and list(x.index) == sorted(methods)  # methods × metrics (2 log-odds, 2 CrowS), mean changes
    keys = ["gender_log_odds/winobias/mean_log_odds", "gender_log_odds/templates/mean_log_odds"]  # vary across methods
    cca = cca_alignment(result.responses("bert", keys), result.responses("ltg", keys), n_permutations=99, n_bootstrap=50,
                        seed=0)  # the responses are CCA's input as they are
    assert 0 <= cca.rho1 <= 1 + 1e-9
    assert result.fit_stats[("bert", "cda-cpt", 1)]["steps"] == 2


def test_compare_debiasing_gives_seat_and_perplexity_item_intervals_and_leaves_seat_out_for_self_debias(two_models):
    from pathlib import Path

    from babybias.evaluate import SEAT, Perplexity

    fixtures = Path(__file__).resolve().parents[1] / "evaluate" / "fixtures"
    benches = [SEAT(source=str(fixtures / "seat_small"), tests="toy-gender"),
               Perplexity(source=str(fixtures / "perplexity_small.txt"), block_size=16)]
    metrics = ("seat/toy-gender/effect_size", "perplexity/perplexity")
    methods = {"sent-debias": SentDebias(max_pairs=80), "self-debias": SelfDebias()}
    with pytest.warns(UserWarning, match="seat left out for this model: SEAT reads"):
        result = compare_debiasing({"bert": two_models["bert"]}, methods, benches, seeds=(0,),
                                   corpus=shipped_sentences(per_paradigm=3), metrics=metrics, n_resamples=99)
    table = result.table.set_index(["method", "metric"])
    for metric in metrics:  # neither is an item mean: their item intervals re-aggregate resampled items
        row = table.loc[("sent-debias", metric)]
        assert row["n_items"] > 1 and row["items_low"] <= row["change"] <= row["items_high"], metric
    assert ("self-debias", "perplexity/perplexity") in table.index
    assert ("self-debias", "seat/toy-gender/effect_size") not in table.index
