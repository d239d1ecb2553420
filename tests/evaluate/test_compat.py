"""check_tokenizer_fits: a tokenizer that does not belong to the model is refused (or warned about) up front."""

from __future__ import annotations

import warnings

import pytest

from babybias.evaluate import CausalLMScorer, MaskedLMScorer
from babybias.evaluate.scoring import check_tokenizer_fits, tokenizer_fingerprint
from babybias.testing import shipped_sentences, tiny_causal_lm, tiny_masked_lm, tiny_tokenizer


@pytest.fixture(scope="module")
def small_wp():
    return tiny_tokenizer("wordpiece", vocab_size=1000)


@pytest.fixture(scope="module")
def small_bpe():
    return tiny_tokenizer("bpe", vocab_size=1000)


def _bert(vocab_size: int, tokenizer):
    from transformers import BertConfig, BertForMaskedLM

    return BertForMaskedLM(BertConfig(vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                      intermediate_size=32, pad_token_id=tokenizer.pad_token_id)).eval()


def test_larger_tokenizer_is_an_error(wp_tok, small_wp):
    model = tiny_masked_lm(small_wp, hidden=16, layers=1)  # 1000 rows; wp_tok has 2000 ids (used to raise IndexError)
    with pytest.raises(ValueError, match="tokenizer has 2000 ids .*embedding has 1000 rows: they do not belong together"):
        MaskedLMScorer(model, wp_tok)


def test_much_smaller_tokenizer_warns(bpe_tok, small_bpe):
    model = tiny_causal_lm(bpe_tok, hidden=16, layers=1)  # 2000 rows; a 1000-id tokenizer used to score silently
    with pytest.warns(UserWarning, match="tokenizer has 1000 ids but the model's embedding has 2000 rows"):
        CausalLMScorer(model, small_bpe)


@pytest.mark.parametrize("rows", [2000, 2048, 2001, 2100])
def test_own_and_padded_embeddings_pass_quietly(wp_tok, rows):
    """Equal, padded to a multiple of 64/128, or a few rows more: no warning (many hub models pad)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MaskedLMScorer(_bert(rows, wp_tok), wp_tok)
    with pytest.warns(UserWarning, match="2000 ids"):  # but not any number of rows: the check can fail
        check_tokenizer_fits(_bert(rows * 3, wp_tok), wp_tok)


def test_recorded_tokenizer_must_match(wp_tok, small_wp):
    """A model that records its training tokenizer (babybias training does) refuses any other one,
    even when it is smaller than the embedding and would pass the size checks."""
    model = _bert(2000, wp_tok)
    model.config.babybias_tokenizer = {"size": len(wp_tok), "sha256": tokenizer_fingerprint(wp_tok), "embedding_rows": 2000}
    MaskedLMScorer(model, wp_tok)
    with pytest.raises(ValueError, match="trained with a tokenizer of 2000 ids .* this one has 1000 ids"):
        MaskedLMScorer(model, small_wp)
    other = tiny_tokenizer("wordpiece", texts=shipped_sentences()[::3], vocab_size=2000)  # same size, other ids
    assert len(other) == len(wp_tok) and other.get_vocab() != wp_tok.get_vocab()
    with pytest.raises(ValueError, match="use the tokenizer saved with the model"):
        check_tokenizer_fits(model, other)


def test_fingerprint_survives_save_and_load(wp_tok, tmp_path):
    from transformers import AutoTokenizer

    wp_tok.save_pretrained(tmp_path)
    assert tokenizer_fingerprint(AutoTokenizer.from_pretrained(tmp_path)) == tokenizer_fingerprint(wp_tok)
