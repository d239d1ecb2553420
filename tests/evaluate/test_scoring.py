"""The batched scorers against hand-derived values and against a plain one-at-a-time reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from babybias.evaluate.scoring import CausalLMScorer, MaskedLMScorer, make_scorer, model_kind, reduce_log_probs
from tests.conftest import UnigramLM, fixed_wordpiece_tokenizer, logp

SENTENCES = [
    "The developers argued unbelievably.",
    "A cat sleeps.",
    "Who should Derek hug after shocking Richard?",
    "The nurse thanked the mechanic because she was kind.",
    "Unbelievable!",
    "These hairdressers were not ever shocking anybody who sold that rug.",
    "He is tall.",
]


def reference_pll(model, tokenizer, text, method="original"):
    """One forward pass per scored token, no batching, no padding (the naive PLL loop)."""
    enc = tokenizer(text, return_special_tokens_mask=True)
    ids, special, words = enc["input_ids"], enc["special_tokens_mask"], enc.word_ids()
    out = []
    for t in range(len(ids)):
        if special[t]:
            continue
        masked = list(ids)
        masked[t] = tokenizer.mask_token_id
        if method == "within_word_l2r":
            for u in range(t + 1, len(ids)):
                if words[u] != words[t] or special[u]:
                    break
                masked[u] = tokenizer.mask_token_id
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([masked])).logits[0, t]
        out.append(torch.log_softmax(logits.float(), -1)[ids[t]].item())
    return np.array(out)


def reference_clm(model, tokenizer, text):
    ids = [tokenizer.bos_token_id] + tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0]
    lp = torch.log_softmax(logits.float(), -1)
    return np.array([lp[t - 1, ids[t]].item() for t in range(1, len(ids))])


@pytest.mark.parametrize("method", ["original", "within_word_l2r"])
def test_batched_pll_equals_reference(bert, wp_tok, method):
    # small batches and a token budget force several padded, length-sorted batches
    scorer = MaskedLMScorer(bert, wp_tok, batch_size=7, max_tokens=120, progress=False, pll=method)
    got = scorer.sentence_log_probs(SENTENCES)
    for text, lp in zip(SENTENCES, got):
        np.testing.assert_allclose(lp, reference_pll(bert, wp_tok, text, method), atol=1e-5, rtol=0)


def test_within_word_differs_from_original_on_multipiece_words(bert, wp_tok):
    scorer = MaskedLMScorer(bert, wp_tok, progress=False)
    text = ["The developers argued unbelievably."]
    assert len(wp_tok.tokenize(text[0])) > len(text[0].split()) + 1  # has multi-piece words
    a = scorer.sentence_log_probs(text, pll="original")[0]
    b = scorer.sentence_log_probs(text, pll="within_word_l2r")[0]
    assert not np.allclose(a, b)


def test_within_word_masks_later_pieces_only():
    tok = fixed_wordpiece_tokenizer(["un", "##believ", "##ably", "kind"])
    model = UnigramLM("mlm", tok)
    scorer = MaskedLMScorer(model, tok, batch_size=1, progress=False)
    enc = scorer.encode(["unbelievably kind"])[0]
    assert tok.convert_ids_to_tokens(list(enc.input_ids)) == ["[CLS]", "un", "##believ", "##ably", "kind", "[SEP]"]
    expected = {"within_word_l2r": [[1, 2, 3], [2, 3], [3], [4]], "original": [[1], [2], [3], [4]]}
    for method, masks in expected.items():
        model.calls.clear()
        scorer.token_log_probs([enc], pll=method)
        got = [[i for i, t in enumerate(row[0].tolist()) if t == tok.mask_token_id] for row in model.calls]
        assert got == masks, method


def test_batched_clm_equals_reference(gpt2, bpe_tok):
    scorer = CausalLMScorer(gpt2, bpe_tok, batch_size=3, max_tokens=60, progress=False)
    got = scorer.sentence_log_probs(SENTENCES)
    for text, lp in zip(SENTENCES, got):
        np.testing.assert_allclose(lp, reference_clm(gpt2, bpe_tok, text), atol=1e-5, rtol=0)


def test_unigram_pll_is_hand_computable(wl_tok):
    scorer = MaskedLMScorer(UnigramLM("mlm", wl_tok), wl_tok, progress=False)
    lp = scorer.sentence_log_probs(["the doctor is kind ."])[0]
    np.testing.assert_allclose(lp, [logp("the"), logp("doctor"), logp("is"), logp("kind"), logp(".")], atol=1e-6)
    assert scorer.score(["the man"], "sum")[0] == pytest.approx(logp("the") + logp("man"))
    assert scorer.score(["the man"], "mean")[0] == pytest.approx((logp("the") + logp("man")) / 2)


def test_unigram_clm_is_hand_computable(wl_tok_bos):
    scorer = CausalLMScorer(UnigramLM("clm", wl_tok_bos), wl_tok_bos, progress=False)
    lp = scorer.sentence_log_probs(["she was tall"])[0]
    np.testing.assert_allclose(lp, [logp("she"), logp("was"), logp("tall")], atol=1e-6)


def test_continuation_scores_only_the_target(wl_tok, wl_tok_bos, gpt2, bpe_tok):
    mlm = MaskedLMScorer(UnigramLM("mlm", wl_tok), wl_tok, progress=False)
    assert mlm.continuation_log_probs(["the man was"], ["tall ."])[0] == pytest.approx([logp("tall"), logp(".")])
    clm = CausalLMScorer(UnigramLM("clm", wl_tok_bos), wl_tok_bos, progress=False)
    assert clm.continuation_log_probs(["the man was"], ["tall"])[0] == pytest.approx([logp("tall")])
    # byte-level BPE carries the space inside the first continuation token: it must still be scored
    bpe = CausalLMScorer(gpt2, bpe_tok, progress=False)
    enc = bpe.encode(["The cat sleeps"])[0]
    full = reference_clm(gpt2, bpe_tok, "The cat sleeps")
    cont = bpe.continuation_log_probs(["The cat"], ["sleeps"])[0]
    n = len(bpe_tok(" sleeps", add_special_tokens=False)["input_ids"])
    assert len(enc) - 1 == len(full) and len(cont) == n
    np.testing.assert_allclose(cont, full[-n:], atol=1e-5)


def test_special_tokens_are_never_scored(wl_tok):
    scorer = MaskedLMScorer(UnigramLM("mlm", wl_tok), wl_tok, progress=False)
    enc = scorer.encode(["the cat"])[0]
    assert enc.special == (True, False, False, True)
    assert enc.positions() == [1, 2]


def test_padding_and_order_do_not_change_scores(bert, wp_tok):
    scorer = MaskedLMScorer(bert, wp_tok, batch_size=64, progress=False)
    alone = [scorer.sentence_log_probs([s])[0] for s in SENTENCES]
    together = scorer.sentence_log_probs(SENTENCES[::-1])[::-1]
    for a, b in zip(alone, together):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_model_kind_and_errors(bert, gpt2, wp_tok):
    assert model_kind(bert) == "mlm" and model_kind(gpt2) == "clm"
    with pytest.raises(ValueError, match="masked or a causal"):
        model_kind(torch.nn.Linear(2, 2))
    assert make_scorer(bert, wp_tok, progress=False).kind == "mlm"
    with pytest.raises(ValueError, match="no scored token"):
        reduce_log_probs([np.array([])], "mean")
    with pytest.raises(ValueError, match="pll must be"):
        MaskedLMScorer(bert, wp_tok, pll="l2r")


def test_slow_tokenizer_is_refused(bert):
    class SlowTokenizer:  # what a Python ("slow") tokenizer looks like to the scorer: no offsets or word ids
        is_fast = False
        mask_token_id = 4

    with pytest.raises(TypeError, match="not a fast tokenizer"):
        MaskedLMScorer(bert, SlowTokenizer())


def test_model_mode_is_restored(bert, wp_tok):
    bert.train()
    try:
        MaskedLMScorer(bert, wp_tok, progress=False).sentence_log_probs(["A cat sleeps."])
        assert bert.training
    finally:
        bert.eval()


def test_backend_and_wrapper_encodings_agree(wp_tok, bpe_tok):
    from babybias.evaluate.scoring import _encode_with_tokenizer

    texts = ["The developers argued unbelievably.", "Her dog's  café\nruns—fast!", " lead space", "x [MASK] y"]
    for tok in (wp_tok, bpe_tok):
        for special in (True, False):
            fast = _encode_with_tokenizer(tok, texts, special)
            tok.backend_tokenizer.enable_truncation(10**6)  # forces the wrapper path
            try:
                slow = _encode_with_tokenizer(tok, texts, special)
            finally:
                tok.backend_tokenizer.no_truncation()
            assert fast == slow


def test_head_split_is_used_only_when_it_reproduces_the_logits(bert, wp_tok):
    from transformers import BertForMaskedLM

    assert MaskedLMScorer(bert, wp_tok, progress=False)._head is not None  # BERT: head on masked rows only

    class ScaledBert(BertForMaskedLM):  # its forward does more than head(body(x)): the split must be refused
        def forward(self, *args, **kwargs):
            out = super().forward(*args, **kwargs)
            out.logits = out.logits * 2.0
            return out

    scaled = ScaledBert(bert.config)
    scaled.load_state_dict(bert.state_dict())
    scaled.eval()
    scorer = MaskedLMScorer(scaled, wp_tok, progress=False)
    assert scorer._head is None
    np.testing.assert_allclose(scorer.sentence_log_probs(SENTENCES[:2])[0], reference_pll(scaled, wp_tok, SENTENCES[0]), atol=1e-5)
