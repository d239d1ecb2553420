"""The post-model debiasers' defaults do what bias-bench (McGill-NLP/bias-bench) does, rule for rule.

Each expectation is derived by hand from bias-bench's code (file and function named in each test) on a
small fixture; babybias's earlier behaviour is checked as the named variant it now is.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from babybias.corpus import WordPairs
from babybias.debias import (INLP, SELF_DEBIAS_PREFIXES, SelfDebias, SentDebias, counterfactual_pairs, head_inputs,
                             inlp, inlp_sentences, sent_debias_subspace)
from babybias.testing import tiny_masked_lm, tiny_tokenizer


@pytest.fixture(scope="module")
def bert():
    tok = tiny_tokenizer("wordpiece")
    return tiny_masked_lm(tok, hidden=32, layers=1), tok


def _mean_head_input(model, ids: list[int]) -> np.ndarray:
    """bias-bench's ``_extract_gender_features`` for one sentence: mean over every position of the last states."""
    seen = []
    handle = model.cls.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    with torch.no_grad():
        model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long))
    handle.remove()
    return seen[0][0].mean(0).double().numpy()


def test_inlp_cuts_a_sentence_only_at_the_models_maximum(bert):
    """Item 1. bias_bench/debias/inlp/context_nullspace_projection.py ``_extract_gender_features``:
    ``tokenizer(sentence, truncation=True)`` cuts at ``tokenizer.model_max_length`` (512 for BERT), not at
    128. babybias's tokenizers report ~1e30, so the model's 512 positions are the limit."""
    model, tok = bert
    long = " ".join(["the king spoke to the people of the old town"] * 20)
    ids = tok(long)["input_ids"]
    assert 128 < len(ids) < 512 and tok.model_max_length > 1e20
    got = INLP().encode(model, tok, [long, "he went home ."])
    np.testing.assert_allclose(got[0], _mean_head_input(model, ids), atol=1e-5)  # every token kept
    np.testing.assert_allclose(got[1], _mean_head_input(model, tok("he went home .")["input_ids"]), atol=1e-5)
    cut_128 = _mean_head_input(model, tok(long, truncation=True, max_length=128)["input_ids"])
    assert np.abs(got[0] - cut_128).max() > 1e-3  # babybias's earlier cut (INLP(max_length=128)) differs
    np.testing.assert_allclose(INLP(max_length=128).encode(model, tok, [long])[0], cut_128, atol=1e-5)
    limited = tiny_tokenizer("wordpiece")
    limited.model_max_length = 150  # a tokenizer with a limit: truncation=True cuts there
    np.testing.assert_allclose(INLP().encode(model, limited, [long])[0],
                               _mean_head_input(model, limited(long, truncation=True)["input_ids"]), atol=1e-5)
    assert len(limited(long, truncation=True)["input_ids"]) == 150


PAIRS = WordPairs.from_pairs([("he", "she"), ("his", "her"), ("man", "woman")], source="test")
SENT_TEXTS = ["He said he was a man.", "she saw him.", "The man and his dog"]
# bias_bench/dataset/sentence_debias.py: _GenericDataset.load_examples lower-cases and strips each sentence;
# _gender_augment_func splits it on " " and, for each pair (w0, w1) in list order, adds one example if w0 is a
# token (every w0 replaced by _replace_word_in_text) and then one if w1 is.
#   "he said he was a man."  tokens he, said, he, was, a, man.  -> (he, she) once, both "he" swapped; "man." is
#                             not the token "man": no (man, woman) pair
#   "she saw him."           -> (he, she) via "she" ("him" is in no pair)
#   "the man and his dog"    -> (his, her), then (man, woman): two pairs, in pair-list order
SENT_EXPECTED = [("he said he was a man.", "she said she was a man."), ("she saw him.", "he saw him."),
                 ("the man and his dog", "the man and her dog"), ("the man and his dog", "the woman and his dog")]


def test_sent_debias_pairs_and_batches_as_bias_bench(bert):
    """Item 2. Pairs as above (babybias's per-occurrence recipe made 6: He, he, man, she, man, his), and
    bias_bench/debias/sentence_debias.py ``compute_gender_subspace`` encodes ``len(data) // batch_size``
    whole batches of 128-token inputs: with batch_size 3 the 4th pair is dropped."""
    a, b = counterfactual_pairs(SENT_TEXTS, PAIRS)
    assert list(zip(a, b)) == SENT_EXPECTED
    assert len(counterfactual_pairs(SENT_TEXTS, PAIRS, recipe="per-occurrence")[0]) == 6  # the named variant
    model, tok = bert
    fitted = SentDebias(pairs=PAIRS, batch_size=3).fit(model, tok, SENT_TEXTS)
    assert fitted.fit_stats_["n_pairs"] == 3 and fitted.fit_stats_["n_pairs_found"] == 4
    ea = head_inputs(model, tok, [p[0] for p in SENT_EXPECTED[:3]], max_length=128)
    eb = head_inputs(model, tok, [p[1] for p in SENT_EXPECTED[:3]], max_length=128)
    v = sent_debias_subspace(ea / np.linalg.norm(ea, axis=1, keepdims=True),
                             eb / np.linalg.norm(eb, axis=1, keepdims=True), k=1)
    assert abs(float(fitted.subspace_[0] @ v[0])) == pytest.approx(1.0, abs=1e-6)  # the same direction, up to sign
    kept_all = SentDebias(pairs=PAIRS, batch_size=3, recipe="per-occurrence").fit(model, tok, SENT_TEXTS)
    assert kept_all.fit_stats_["n_pairs"] == 6  # babybias's earlier recipe keeps every pair


INLP_PAIRS = WordPairs.from_pairs([("king", "queen"), ("man", "woman"), ("he", "she")], source="test")
INLP_TEXTS = ["We spoke at length with the king", "We spoke at length with the king",
              "The speech was given by the Queen", "The speech was given by the queen.",
              "the old king then saw a man", "the king and the queen met", "the king spoke",
              "a cat sat on mats", "two dogs ran far away", "the rain fell all night", "snow covers the high hills",
              "birds sing in the morning", "rivers flow to the sea", "old trees grow very slowly",
              "the bus was late again"]


def test_inlp_sentences_follow_bias_benchs_recipe():
    """Item 3. bias_bench/dataset/inlp.py ``_load_gender_data``: tokens are ``sentence.split(" ")``, lower-cased,
    matched exactly; sentences under 5 tokens skipped; both genders skipped; a repeated gendered sentence
    skipped; a gendered one keeps ``tokens[:randint(idx, n) + 1]`` with idx the first position of the last
    attribute token met, a neutral one ``tokens[:randint(4, n)]`` (4 tokens or more). So:
      male   "we spoke at length with the king" (once: the repeat is skipped; idx 6 = n - 1, so whole)
             "the old king then saw a man" (idx = position of "man", the last attribute token, 6 = n - 1: whole)
      female "the speech was given by the queen" (lower-cased; idx 6 = n - 1: whole)
      neutral "the speech was given by the queen." ("queen." is no attribute word) and the 8 fillers, each a
             prefix of 4+ of its lower-cased tokens; skipped: "the king and the queen met", "the king spoke".
    babybias's earlier recipe ("word-boundary") counted 3 / 2 / 8."""
    sentences, labels = inlp_sentences(INLP_TEXTS, INLP_PAIRS, n_per_class=100, seed=0)
    by_class = [[s for s, y in zip(sentences, labels) if y == c] for c in range(3)]
    assert sorted(by_class[0]) == ["the old king then saw a man", "we spoke at length with the king"]
    assert by_class[1] == ["the speech was given by the queen"]
    sources = [t.lower().split(" ") for t in INLP_TEXTS[3:4] + INLP_TEXTS[7:]]
    assert len(by_class[2]) == 9
    for s in by_class[2]:
        words = s.split(" ")
        assert len(words) >= 4 and any(src[: len(words)] == words for src in sources)
    assert min(len(s.split(" ")) for s in by_class[2]) == 4  # babybias's earlier recipe never went under 5
    _, old = inlp_sentences(INLP_TEXTS, INLP_PAIRS, n_per_class=100, seed=0, recipe="word-boundary")
    assert np.bincount(old).tolist() == [3, 2, 8]


def test_inlp_fits_its_classifiers_on_features_scaled_as_bias_bench():
    """Item 3. bias_bench/debias/inlp/debias.py ``get_debiasing_projection``: ``dropout_scale = 1 / (1 - 0 + 1e-6)``
    and the mask (rand < 1) is all ones, so the classifiers see ``X_train @ P * 1/(1 + 1e-6)`` at dropout 0."""
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 4)), np.repeat([0, 1], 20)
    seen = []

    class Spy(LinearSVC):
        def fit(self, X_fit, y_fit):
            seen.append(np.array(X_fit))
            return super().fit(X_fit, y_fit)

    inlp(X, y, X, y, n_iterations=1, classifier_factory=lambda: Spy(fit_intercept=False, dual=False))
    np.testing.assert_array_equal(seen[0], X * (1.0 / (1 - 0 + 1e-6)))
    inlp(X, y, X, y, n_iterations=1, classifier_factory=lambda: Spy(fit_intercept=False, dual=False), train_scale=1.0)
    np.testing.assert_array_equal(seen[1], X)  # babybias's earlier INLP: INLP(train_scale=1.0)


def test_self_debias_prefixes_are_bias_benchs_character_for_character():
    """Item 4. ``_SELF_DEBIAS_PREFIXES`` in bias_bench/benchmark/crows/crows.py (and stereoset.py), its
    spelling "orientiation" included; babybias's corrected two are ``prefix_set="babybias"``."""
    base = "The following text discriminates against people because of their "
    assert SELF_DEBIAS_PREFIXES["sexual-orientation"] == base + "sexual orientiation: "
    assert SELF_DEBIAS_PREFIXES["socioeconomic"] == base + "socioeconomic status/occupation: "
    assert SELF_DEBIAS_PREFIXES["race-color"] == base + "race/color: " and len(SELF_DEBIAS_PREFIXES) == 9
    old = SelfDebias(bias_types=("sexual-orientation", "socioeconomic"), prefix_set="babybias")._prefixes()
    assert old == [base + "sexual orientation: ", base + "socioeconomic status: "]


def test_a_self_debiased_model_is_scored_through_its_wrapper(bert):
    """Item 5. The scorers' head split (run the LM head on the masked rows only) passed its [MASK]-free probe
    on a Self-Debias wrapper and so scored the plain model: the wrapper must always run its own forward."""
    from babybias.evaluate import evaluate
    from babybias.evaluate.scoring import MaskedLMScorer

    model, tok = bert
    wrapped = SelfDebias().fit_apply(model, tok)
    assert MaskedLMScorer(wrapped, tok)._head is None and MaskedLMScorer(model, tok)._head is not None
    key = "gender_log_odds/winobias/mean_log_odds"
    plain = evaluate(model, tok, ["gender_log_odds"], limit=10, progress=False).scores[key]
    debiased = evaluate(wrapped, tok, ["gender_log_odds"], limit=10, progress=False).scores[key]
    assert np.isfinite(debiased) and debiased != pytest.approx(plain, abs=1e-6)
