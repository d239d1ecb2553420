"""The perplexity benchmark against bias-bench's two scripts, written out literally on tiny random models."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.nn import CrossEntropyLoss

from babybias.evaluate import DataFormatError
from babybias.evaluate.perplexity import Perplexity, load_text_rows, mlm_blocks
from babybias.evaluate.registry import MissingDataError
from babybias.evaluate.scoring import CausalLMScorer, MaskedLMScorer
from tests.conftest import FIXTURES, UnigramLM, shared_data

TEXT = FIXTURES / "perplexity_small.txt"


def hf_rows(path) -> list[str]:
    """The rows as the HF WikiText script reads a file: lines with their newline, blank lines as ""."""
    with open(path, encoding="utf-8") as f:
        return [line if line.strip() else "" for line in f]


def bias_bench_causal(model, tokenizer, rows, max_length, stride, limit=None):
    """experiments/perplexity.py, line for line (logits from ``model``'s forward)."""
    ids = tokenizer("\n\n".join(rows), return_tensors="pt").input_ids
    lls, end_loc = [], 0
    for n, i in enumerate(range(0, ids.size(1), stride)):
        if limit is not None and n == limit:
            break
        begin_loc = max(i + stride - max_length, 0)
        end_loc = min(i + stride, ids.size(1))
        trg_len = end_loc - i
        input_ids = ids[:, begin_loc:end_loc]
        target_ids = input_ids.clone()
        target_ids[:, :-trg_len] = -100
        with torch.no_grad():
            logits = model(input_ids=input_ids).logits
        loss = CrossEntropyLoss()(logits[..., :-1, :].contiguous().view(-1, logits.size(-1)),
                                  target_ids[..., 1:].contiguous().view(-1))
        lls.append(loss * trg_len)
    return float(torch.exp(torch.stack(lls).sum() / end_loc))


def per_token_causal(model, tokenizer, rows, window, stride):
    """Plain per-token perplexity over the same windows: every predicted target once."""
    ids = tokenizer("\n\n".join(rows))["input_ids"]
    nll, count = 0.0, 0
    for i in range(0, len(ids), stride):
        begin, end = max(i + stride - window, 0), min(i + stride, len(ids))
        x = torch.tensor([ids[begin:end]])
        with torch.no_grad():
            lp = model(input_ids=x).logits[0].double().log_softmax(-1)
        for t in range(max(begin + 1, i), end):
            nll -= float(lp[t - begin - 1, ids[t]])
            count += 1
    return math.exp(nll / count)


def bias_bench_masked(model, tokenizer, rows, block, group_rows, limit=None):
    """experiments/perplexity_mlm.py: group_texts per batch of rows, then one masked position at a time."""
    encoded = tokenizer(rows)["input_ids"]
    blocks = []
    for g in range(0, len(encoded), group_rows):
        concat = sum(encoded[g:g + group_rows], [])
        total = len(concat)
        if total >= block:
            total = (total // block) * block
        blocks += [concat[i:i + block] for i in range(0, total, block)]
    pll_all, n_tokens = [], 0
    for b in blocks[:limit]:
        batch = torch.tensor([b])
        n_tokens += batch.size(1) - 2
        pll = 0.0
        for position in range(1, batch.size(1) - 1):
            masked = batch.clone()
            masked[:, position] = tokenizer.mask_token_id
            with torch.no_grad():
                logits = model(input_ids=masked).logits[0, position, :]
            pll += F.log_softmax(logits, dim=-1)[batch[0, position]].item()
        pll_all.append(pll)
    return math.exp(-(sum(pll_all) / n_tokens))


@pytest.fixture(scope="module")
def rows():
    return hf_rows(TEXT)


# ------------------------------------------------------------------------------------------ causal


@pytest.mark.parametrize("stride", [None, 12])
def test_causal_bias_bench_by_hand(gpt2, bpe_tok, rows, stride):
    scorer = CausalLMScorer(gpt2, bpe_tok, progress=False, batch_size=4)
    res = Perplexity(source=TEXT, context=40, reserve=8, stride=stride).evaluate(scorer)
    expected = bias_bench_causal(gpt2, bpe_tok, rows, 32, stride or 32)
    assert len(res.rows) >= 3 and res.scores["n_items"] == len(res.rows)
    assert res.scores["perplexity"] == pytest.approx(expected, rel=1e-6)
    assert res.scores["n_tokens"] == res.rows["end"].iloc[-1] == res.config["n_text_tokens"]
    assert res.config["window"] == 32 and res.config["self_debias"] is False
    tokens = Perplexity(source=TEXT, context=40, reserve=8, stride=stride, variant="tokens").evaluate(scorer)
    assert tokens.scores["perplexity"] == pytest.approx(per_token_causal(gpt2, bpe_tok, rows, 32, stride or 32), rel=1e-6)
    assert tokens.scores["n_tokens"] == tokens.rows["n_predicted"].sum()
    if stride:  # overlapping windows predict every token but the first exactly once
        assert tokens.scores["n_tokens"] == res.scores["n_tokens"] - 1


def test_causal_limit_and_default_context(gpt2, bpe_tok, rows):
    scorer = CausalLMScorer(gpt2, bpe_tok, progress=False)
    res = Perplexity(source=TEXT, context=40, reserve=8, stride=12).evaluate(scorer, limit=3)
    assert len(res.rows) == 3
    assert res.scores["perplexity"] == pytest.approx(bias_bench_causal(gpt2, bpe_tok, rows, 32, 12, limit=3), rel=1e-6)
    default = Perplexity(source=TEXT).evaluate(scorer, limit=1)
    assert default.config["window"] == gpt2.config.n_positions - 32


def test_one_token_last_window_counts_but_predicts_nothing(gpt2, bpe_tok):
    scorer = CausalLMScorer(gpt2, bpe_tok, progress=False)
    n = len(bpe_tok("\n\n".join(hf_rows(TEXT)))["input_ids"])
    window = next(w for w in range(20, 60) if (n - 1) % w == 0)  # the last window holds one token
    res = Perplexity(source=TEXT, context=window, reserve=0).evaluate(scorer)
    last = res.rows.iloc[-1]
    assert last["trg_len"] == 1 and last["n_predicted"] == 0 and last["ll"] == 0.0
    assert math.isfinite(res.scores["perplexity"]) and res.scores["n_tokens"] == n


def test_aggregate_equals_scores_and_resample_is_finite(gpt2, bpe_tok):
    bench = Perplexity(source=TEXT, context=40, reserve=8, stride=16)
    res = bench.evaluate(CausalLMScorer(gpt2, bpe_tok, progress=False))
    assert bench.aggregate(res.rows) == res.scores
    assert res.scores["log_perplexity"] == pytest.approx(math.log(res.scores["perplexity"]))
    sample = res.rows.sample(len(res.rows), replace=True, random_state=0)
    assert math.isfinite(bench.aggregate(sample)["perplexity"])
    assert bench.fixed_keys(res.scores) == ["n_tokens", "n_items"] and bench.item_values(res.rows, "perplexity") is None


# ------------------------------------------------------------------------------------------ masked


def test_masked_pseudo_perplexity_by_hand(bert, wp_tok, rows):
    scorer = MaskedLMScorer(bert, wp_tok, progress=False, batch_size=64)
    bench = Perplexity(source=TEXT, block_size=16, group_rows=7)
    res = bench.evaluate(scorer)
    expected = bias_bench_masked(bert, wp_tok, rows, 16, 7)
    assert res.scores["perplexity"] == pytest.approx(expected, rel=1e-6)
    last = res.rows.iloc[-1]  # the last batch of rows (one row) is shorter than a block: kept whole
    assert last["group"] == 4 and last["end"] - last["begin"] == len(wp_tok(rows[-1])["input_ids"]) < 16
    assert res.scores["n_tokens"] == (res.rows["end"] - res.rows["begin"] - 2).sum()
    assert bench.aggregate(res.rows) == res.scores and res.config["block"] == 16


def test_mlm_blocks_group_rows_quirk():
    assert mlm_blocks([5, 5, 5], 4, 2) == [(0, 0, 4), (0, 4, 8), (1, 10, 14)]  # 10 -> 8, 5 -> 4: remainders dropped
    assert mlm_blocks([2, 1], 4, 5) == [(0, 0, 3)]  # a batch shorter than a block is one short block


def test_masked_default_block_falls_back_to_positions(bert, wp_tok):
    scorer = MaskedLMScorer(bert, wp_tok, progress=False)
    with pytest.warns(UserWarning, match="model_max_length"):
        assert Perplexity().block(scorer) == 512  # the tokenizer says ~1e30: the model's 512 positions
    with pytest.raises(ValueError, match="exceeds the model's 512 positions"):
        Perplexity(block_size=600).block(scorer)


# ----------------------------------------------------------------------------------------- sources


def test_crlf_gz_and_folder_read_the_same_rows(tmp_path, rows):
    raw = TEXT.read_bytes().replace(b"\r\n", b"\n")
    (tmp_path / "crlf.txt").write_bytes(raw.replace(b"\n", b"\r\n"))
    (tmp_path / "text.raw.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "wiki").mkdir()
    (tmp_path / "wiki" / "wiki.test.raw.gz").write_bytes(gzip.compress(raw.replace(b"\n", b"\r\n")))
    assert load_text_rows(TEXT) == rows
    for source in ("crlf.txt", "text.raw.gz", "wiki"):
        assert load_text_rows(tmp_path / source) == rows
    assert rows[0] == " = The Harbour Town = \n" and rows[1] == ""


def test_source_errors(tmp_path):
    with pytest.raises(MissingDataError, match="benchmark 'perplexity' has no text shipped .*: pass source= ") as info:
        Perplexity().check_data()
    assert "\n" not in str(info.value)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DataFormatError, match=r"empty\.txt: no text"):
        Perplexity(source=tmp_path / "empty.txt").check_data()
    (tmp_path / "latin.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"latin\.txt: not UTF-8"):
        Perplexity(source=tmp_path / "latin.txt").check_data()
    with pytest.raises(FileNotFoundError, match="no wiki.test.raw or wiki.test.raw.gz"):
        load_text_rows(tmp_path)


def test_hub_wikitext_calls_hub_dataset(monkeypatch):
    calls = []

    def fake(name, config=None, split="train"):
        calls.append((name, config, split))
        return {"text": [" = A = \n", "", " b c .\n"]}

    monkeypatch.setattr("babybias.evaluate.perplexity.hub_dataset", fake)
    Perplexity(source="hf:wikitext").check_data()  # nothing is downloaded to check
    assert calls == []
    assert Perplexity(source="hf:wikitext").rows() == [" = A = \n", "", " b c .\n"]
    assert calls == [("Salesforce/wikitext", "wikitext-2-raw-v1", "test")]


@pytest.mark.parametrize("options, message", [
    ({"context": 33}, r"the window \(context - reserve = 1\) must be at least 2"),
    ({"variant": "mean"}, "variant must be one of"),
    ({"stride": 1}, "stride must be None"),
    ({"context": 40, "reserve": 8, "stride": 33}, r"stride \(33\) must not exceed the window"),
    ({"block_size": 2}, "block_size must be"),
    ({"group_rows": 0}, "group_rows must be an integer >= 1"),
    ({"reserve": -1}, "reserve must be"),
])
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(ValueError, match=message) as info:
        Perplexity(**options)
    assert "\n" not in str(info.value)


def test_model_without_positions_needs_context(wl_tok_bos):
    scorer = CausalLMScorer(UnigramLM("clm", wl_tok_bos), wl_tok_bos, progress=False)
    with pytest.raises(ValueError, match="states no positions .* pass context="):
        Perplexity(source=TEXT).evaluate(scorer)


# ---------------------------------------------------------------------------------------- debiasing


def test_self_debias_causal_uses_the_wrapper(gpt2, bpe_tok, rows):
    from babybias.debias import SelfDebias

    # a new wrapper is in training mode, and scoring would restore that mode on the shared model: eval()
    wrapped = SelfDebias(bias_types=("gender",)).fit(gpt2, bpe_tok).apply(gpt2).eval()
    res = Perplexity(source=TEXT, context=40, reserve=8, stride=12).evaluate(
        CausalLMScorer(wrapped, bpe_tok, progress=False), limit=4)
    assert res.config["self_debias"] is True
    expected = bias_bench_causal(wrapped, bpe_tok, rows, 32, 12, limit=4)
    assert res.scores["perplexity"] == pytest.approx(expected, rel=1e-6)
    plain = Perplexity(source=TEXT, context=40, reserve=8, stride=12).evaluate(
        CausalLMScorer(gpt2, bpe_tok, progress=False), limit=4)
    assert res.scores["perplexity"] != pytest.approx(plain.scores["perplexity"], rel=1e-9)


def test_self_debias_masked_uses_the_wrapper(bert, wp_tok, rows):
    from babybias.debias import SelfDebias

    # a new wrapper is in training mode, and scoring would restore that mode on the shared model: eval()
    wrapped = SelfDebias(bias_types=("gender",)).fit(bert, wp_tok).apply(bert).eval()
    res = Perplexity(source=TEXT, block_size=12, group_rows=7).evaluate(MaskedLMScorer(wrapped, wp_tok, progress=False),
                                                                       limit=3)
    assert res.scores["perplexity"] == pytest.approx(bias_bench_masked(wrapped, wp_tok, rows, 12, 7, limit=3), rel=1e-6)


def test_projection_hook_changes_perplexity(gpt2, bpe_tok):
    from babybias.models.projection import attach_projection

    v = np.random.default_rng(0).normal(size=gpt2.config.n_embd)
    v /= np.linalg.norm(v)
    projected = attach_projection(gpt2, np.eye(len(v)) - np.outer(v, v))
    bench = Perplexity(source=TEXT, context=40, reserve=8)
    plain = bench.evaluate(CausalLMScorer(gpt2, bpe_tok, progress=False), limit=2).scores["perplexity"]
    hooked = bench.evaluate(CausalLMScorer(projected, bpe_tok, progress=False), limit=2).scores["perplexity"]
    assert hooked != pytest.approx(plain, rel=1e-6)


# ------------------------------------------------------------------------------------- shared data


def test_shared_wikitext2(gpt2, bpe_tok, bert, wp_tok):
    folder = shared_data("wikitext2")
    res = Perplexity(source=folder, context=64).evaluate(CausalLMScorer(gpt2, bpe_tok, progress=False), limit=3)
    assert len(res.rows) == 3 and math.isfinite(res.scores["perplexity"]) and res.scores["n_tokens"] == 3 * 32
    rows = load_text_rows(folder)
    assert len(rows) == 2891 and rows[0] == " = Robert Boulter = \n"
    mlm = Perplexity(source=folder, block_size=32).evaluate(MaskedLMScorer(bert, wp_tok, progress=False), limit=2)
    assert len(mlm.rows) == 2 and mlm.scores["n_tokens"] == 60
