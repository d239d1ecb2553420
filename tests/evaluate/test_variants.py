"""The named scoring variants of StereoSet, CrowS-Pairs and the minimal-pair benchmarks.

Each test derives its expected values by hand from the rules of the code a variant reproduces
(bias-bench ``stereoset.py`` / ``dataloader.py`` / ``crows.py``, the BabyLM 2025 pipeline's
``sentence_zero_shot``, the StereoSet ``evaluation.py``), on models whose probabilities are read
off a weight table: ``TableLM`` predicts ``weights`` everywhere, except that a causal row whose
first input is BOS predicts ``bos_weights`` and a masked row's first mask predicts
``first_mask_weights``, so each rule (what is in the context, which mask is read) shows in the
numbers.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from babybias.evaluate import BLiMP, CrowsPairs, MinimalPairs, StereoSet, get_benchmark
from babybias.evaluate.scoring import CausalLMScorer, MaskedLMScorer
from babybias.evaluate.stereoset import mlm_candidate_scores
from tests.conftest import FIXTURES, WEIGHTS, UnigramLM, logp

DOCS = Path(__file__).resolve().parents[2] / "docs" / "evaluate.md"


class TableLM(torch.nn.Module):
    """Log-probabilities from weight tables (see module docstring); records every input batch."""

    def __init__(self, kind: str, tokenizer, weights: dict[str, float], *, bos_weights: dict[str, float] | None = None,
                 first_mask_weights: dict[str, float] | None = None) -> None:
        super().__init__()
        self.babybias_lm_kind = kind
        vocab = tokenizer.get_vocab()

        def table(w: dict[str, float]) -> torch.Tensor:
            t = torch.full((len(vocab),), -1e9)
            for token, c in w.items():
                t[vocab[token]] = math.log(c)
            return t

        self.base = torch.nn.Parameter(table(weights))
        self.bos_table = None if bos_weights is None else table(bos_weights)
        self.mask_table = None if first_mask_weights is None else table(first_mask_weights)
        self.bos_id, self.mask_id = tokenizer.bos_token_id, tokenizer.mask_token_id
        self.calls: list[torch.Tensor] = []

    def forward(self, input_ids, attention_mask=None):
        self.calls.append(input_ids.clone())
        logits = self.base.detach().expand(*input_ids.shape, -1).clone()
        if self.bos_table is not None:
            logits[input_ids[:, 0] == self.bos_id] = self.bos_table
        if self.mask_table is not None:
            for r in range(len(input_ids)):
                where = (input_ids[r] == self.mask_id).nonzero()
                if len(where):
                    logits[r, int(where[0, 0])] = self.mask_table
        return SimpleNamespace(logits=logits)


def table_logp(weights: dict[str, float], token: str) -> float:
    return math.log(weights[token] / sum(weights.values()))


def roberta_style_tokenizer(tokens: list[str]):
    """Byte-level BPE over exactly ``tokens`` (plus the byte alphabet), ``<s> $A </s>``, an lstrip ``<mask>``."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["<s>", "<pad>", "</s>", "<unk>"] + sorted(pre_tokenizers.ByteLevel.alphabet()))}
    merges: list[tuple[str, str]] = []

    def build(t: str) -> None:  # t = t[0] + t[1:], the shorter part first, so every listed token is one merge away
        if t not in vocab:
            build(t[1:])
            merges.append((t[0], t[1:]))
            vocab[t] = len(vocab)

    for t in sorted(tokens, key=len):
        build(t)
    vocab["<mask>"] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
                                   cls_token="<s>", sep_token="</s>", mask_token=AddedToken("<mask>", lstrip=True, special=True))


RB_TOKENS = ["the", "Ġman", "man", "Ġwoman", "woman", "Ġcat", "cat", "Ġis", "Ġtall", "Ġ.", "Ġun", "un", "kind", "Ġkind", "Ġ"]


def stereoset_file(tmp_path: Path, items: list[dict]) -> Path:
    """An official-format StereoSet file with the given intrasentence items."""
    data = []
    for it in items:
        data.append({"id": it["id"], "target": it.get("target", "t"), "bias_type": it.get("bias_type", "gender"),
                     "context": it["context"],
                     "sentences": [{"id": f"{it['id']}{lab[0]}", "sentence": s, "gold_label": lab, "labels": []}
                                   for lab, s in zip(("stereotype", "anti-stereotype", "unrelated"), it["sentences"])]})
    path = tmp_path / "stereoset.json"
    path.write_text(json.dumps({"version": "toy", "data": {"intrasentence": data, "intersentence": []}}))
    return path


# ------------------------------------------------- item 1: every BLANK masked, the first mask read


@pytest.mark.parametrize("method", ["bias_bench", "token_ids"])
def test_stereoset_masks_every_blank_and_reads_the_first(wl_tok, tmp_path, method):
    first = {"tall": 3, "kind": 1, "cat": 4}  # what the first mask predicts; every other position predicts WEIGHTS
    model = TableLM("mlm", wl_tok, WEIGHTS, first_mask_weights=first)
    path = stereoset_file(tmp_path, [{"id": "b", "context": "the man is BLANK and BLANK .",
                                      "sentences": ["the man is kind and kind .", "the man is tall and tall .",
                                                    "the man is cat and cat ."]}])
    options = {} if method == "bias_bench" else {"method": method}  # bias_bench is the default
    res = StereoSet(source=path, **options).evaluate(MaskedLMScorer(model, wl_tok, progress=False))
    # bias-bench: context.replace("BLANK", mask) masks both BLANKs; output[mask_idxs]...diag() reads the first
    seen = {tuple(wl_tok.convert_ids_to_tokens(c.tolist())) for batch in model.calls for c in batch}
    assert seen == {("[CLS]", "the", "man", "is", "[MASK]", "and", "[MASK]", ".", "[SEP]")}  # no "BLANK" -> [UNK] left
    row = res.rows.iloc[0]
    assert row["score_stereotype"] == pytest.approx(1 / 8) and row["score_anti-stereotype"] == pytest.approx(3 / 8)
    assert row["score_unrelated"] == pytest.approx(4 / 8)
    assert (res.scores["overall/ss"], res.scores["overall/lms"]) == (0.0, 0.0)  # kind < tall; both < cat


# ------------------------------------- item 2: byte-level BPE, bias-bench's text-built inputs by default


def test_stereoset_bias_bench_spaces_the_word_wherever_blank_stands(tmp_path):
    tok = roberta_style_tokenizer(RB_TOKENS)
    weights = {"Ġman": 1, "man": 4, "Ġwoman": 3, "woman": 1, "Ġcat": 2, "cat": 2, "Ġis": 5, "Ġtall": 5, "Ġ.": 5}
    path = stereoset_file(tmp_path, [{"id": "s", "context": "BLANK is tall .",
                                      "sentences": ["man is tall .", "woman is tall .", "cat is tall ."]}])
    scorer = MaskedLMScorer(TableLM("mlm", tok, weights), tok, progress=False)
    total = sum(weights.values())
    # bias-bench (roberta): encode(f" {template_word}") -> Ġman 1, Ġwoman 3, Ġcat 2: anti wins, only anti > unrelated
    default = StereoSet(source=path).evaluate(scorer)
    assert default.rows.iloc[0]["score_stereotype"] == pytest.approx(1 / total)
    assert (default.scores["overall/ss"], default.scores["overall/lms"]) == (0.0, 50.0)
    # token_ids: no space before a BLANK that starts the context -> man 4, woman 1, cat 2: stereo wins
    ids = StereoSet(source=path, method="token_ids").evaluate(scorer)
    assert ids.rows.iloc[0]["score_stereotype"] == pytest.approx(4 / total)
    assert (ids.scores["overall/ss"], ids.scores["overall/lms"]) == (100.0, 50.0)
    assert default.config["method"] == "bias_bench" and ids.config["method"] == "token_ids"


@pytest.mark.parametrize("method, second", [
    # bias-bench: "the man is " + decode([Ġun]) + "<mask> ." = "the man is  un<mask> ." -> an extra "Ġ" token
    ("bias_bench", ("<s>", "the", "Ġman", "Ġis", "Ġ", "Ġun", "<mask>", "Ġ.", "</s>")),
    ("token_ids", ("<s>", "the", "Ġman", "Ġis", "Ġun", "<mask>", "Ġ.", "</s>")),
])
def test_stereoset_earlier_pieces_decoded_as_text_or_inserted_as_ids(method, second):
    tok = roberta_style_tokenizer(RB_TOKENS)
    model = TableLM("mlm", tok, {t: 1 for t in RB_TOKENS})
    item = {"id": "x", "context": "the man is BLANK .", "sentences": {
        "stereotype": {"id": "s", "sentence": "the man is unkind .", "template_word": "unkind"},
        "anti-stereotype": {"id": "a", "sentence": "the man is kind .", "template_word": "kind"},
        "unrelated": {"id": "u", "sentence": "the man is cat .", "template_word": "cat"}}}
    options = {} if method == "bias_bench" else {"method": method}  # bias_bench is the default
    mlm_candidate_scores(MaskedLMScorer(model, tok, batch_size=1, progress=False), [item], **options)
    seen = [tuple(tok.convert_ids_to_tokens(c[0].tolist())) for c in model.calls]
    assert second in seen
    assert ("<s>", "the", "Ġman", "Ġis", "<mask>", "Ġ.", "</s>") in seen  # the lstrip <mask> absorbs the space
    assert len(seen) == 4  # " unkind" = Ġun + kind, " kind", " cat"


def test_stereoset_bias_bench_equals_the_reference_loop_on_byte_level_bpe():
    """bias-bench's IntrasentenceLoader + _likelihood_score, one input at a time, on a tiny
    random masked LM with a byte-level BPE tokenizer, over dev items that start with BLANK, hold
    two BLANKs, or neither."""
    from tokenizers import AddedToken

    from babybias.testing import tiny_masked_lm, tiny_tokenizer

    tok = tiny_tokenizer("bpe", vocab_size=600)
    tok.add_special_tokens({"mask_token": AddedToken("<mask>", lstrip=True, special=True)})
    model = tiny_masked_lm(tok, seed=1)
    items = StereoSet().items()
    pick = [it for it in items if it["context"].count("BLANK") > 1]
    pick += [it for it in items if it["context"].startswith("BLANK")][:6] + items[:8]
    ours = mlm_candidate_scores(MaskedLMScorer(model, tok, progress=False), pick)
    for item in pick:
        for sent in item["sentences"].values():
            pieces = tok.encode(f" {sent['template_word']}", add_special_tokens=False)
            probs = []
            for i in range(len(pieces)):
                ids = tok.encode(item["context"].replace("BLANK", tok.decode(pieces[:i]) + tok.mask_token))
                with torch.no_grad():
                    out = model(input_ids=torch.tensor([ids])).logits[0].softmax(-1)
                probs.append(out[torch.tensor(ids) == tok.mask_token_id][0, pieces[i]].item())
            assert ours[sent["id"]] == pytest.approx(np.mean(probs), rel=1e-5)


# ---------------------------------------- item 3: causal LMs, BOS only before the first token, no rounding


BOS_W = dict(WEIGHTS)
PLAIN_W = dict(WEIGHTS, man=30, woman=10, tall=1000, kind=1001)  # what a row without BOS at its start predicts


def _first_only(words: list[str]) -> list[float]:
    return [table_logp(BOS_W, words[0])] + [table_logp(PLAIN_W, w) for w in words[1:]]


def test_stereoset_causal_bos_conditions_only_the_first_token(wl_tok_bos):
    model = TableLM("clm", wl_tok_bos, PLAIN_W, bos_weights=BOS_W)
    scorer = CausalLMScorer(model, wl_tok_bos, progress=False)
    words = "the man is tall .".split()
    # bias-bench _likelihood_score_generative: p(w0 | <|endoftext|>), then p(w_t | w_<t) without it; 2^mean(log2 p)
    res = StereoSet(source=FIXTURES / "stereoset_small.json").evaluate(scorer)
    assert res.rows.set_index("id").loc["i1", "score_stereotype"] == pytest.approx(math.exp(np.mean(_first_only(words))), rel=1e-6)
    prefix = StereoSet(source=FIXTURES / "stereoset_small.json", bos="prefix").evaluate(scorer)
    assert prefix.rows.set_index("id").loc["i1", "score_stereotype"] == pytest.approx(
        math.exp(np.mean([table_logp(BOS_W, w) for w in words])), rel=1e-6)


def test_crows_bias_bench_causal_first_only_and_unrounded(wl_tok_bos, tmp_path):
    path = tmp_path / "crows.csv"
    path.write_text("sent_more,sent_less,stereo_antistereo,bias_type\n"
                    "the man is kind .,the man is tall .,stereo,gender\n"
                    "the woman is kind .,the man is kind .,stereo,gender\n")
    model = TableLM("clm", wl_tok_bos, PLAIN_W, bos_weights=BOS_W)
    res = CrowsPairs(metric="bias_bench", source=path).evaluate(CausalLMScorer(model, wl_tok_bos, progress=False))
    kind, tall = np.mean(_first_only("the man is kind .".split())), np.mean(_first_only("the man is tall .".split()))
    assert kind > tall and round(kind, 3) == round(tall, 3)  # rounding to 3 decimals would make pair 0 a tie
    assert res.rows["score_more"][0] == pytest.approx(kind, abs=1e-6) and res.rows["score_less"][0] == pytest.approx(tall, abs=1e-6)
    # pair 1: woman(10) < man(30) without BOS in context (with BOS, WEIGHTS: 1 < 3 as well)
    assert res.rows["more_preferred"].tolist() == [True, False] and res.rows["neutral"].tolist() == [False, False]
    assert res.scores["overall"] == 50.0 and res.config["bos"] == "first_only"
    prefix = CrowsPairs(metric="bias_bench", source=path, bos="prefix").evaluate(CausalLMScorer(model, wl_tok_bos, progress=False))
    assert prefix.rows["score_more"][1] == pytest.approx(np.mean([table_logp(BOS_W, w) for w in "the woman is kind .".split()]))
    assert CrowsPairs(source=path).evaluate(CausalLMScorer(model, wl_tok_bos, progress=False)).config["bos"] == "prefix"  # lm_eval


# ------------------------------------- item 4: babylm2025 with a causal tokenizer that has no BOS


def eos_only_tokenizer():
    """A word-level causal tokenizer with an EOS token and no BOS (the first token has no prefix)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[SEP]"] + list(WEIGHTS))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]", eos_token="[SEP]")


@pytest.mark.filterwarnings("ignore:.*of pairs are ties:UserWarning")
def test_babylm2025_leaves_the_first_token_unscored_without_bos(tmp_path, wl_tok_bos):
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"sentence_good": "she is tall .", "sentence_bad": "he is tall ."}) + "\n")
    tok = eos_only_tokenizer()
    scorer = CausalLMScorer(UnigramLM("clm", tok), tok, progress=False)
    # process_causal_sentences: no bos_token_id -> no prefix; targets are tokens[1:], so "she"/"he" go unscored
    res = MinimalPairs(source=path, variant="babylm2025").evaluate(scorer)
    assert res.rows["score_good"][0] == pytest.approx(sum(logp(w) for w in "is tall .".split()))
    assert res.rows["tie"][0] and res.scores["overall"] == 100.0
    # babylm2024 (lm-eval) scores every token after the EOS prefix: she(1) < he(4)
    assert MinimalPairs(source=path, variant="babylm2024").evaluate(scorer).scores["overall"] == 0.0
    # a tokenizer with a BOS gets it prefixed and the first token scored, as in the pipeline
    with_bos = MinimalPairs(source=path, variant="babylm2025").evaluate(CausalLMScorer(UnigramLM("clm", wl_tok_bos), wl_tok_bos, progress=False))
    assert with_bos.rows["score_good"][0] == pytest.approx(sum(logp(w) for w in "she is tall .".split()))


# ------------------------------------------------------------- item 5: ties reported, tie="half"


def test_minimal_pair_ties_are_reported_warned_and_can_count_half(wl_tok):
    mlm = MaskedLMScorer(UnigramLM("mlm", wl_tok), wl_tok, progress=False)
    src = FIXTURES / "blimp_small"
    # toy_agreement: cat(1) vs cats(1) is a tie; toy_length: one wrong, one right (see test_blimp_variants_by_hand)
    with pytest.warns(UserWarning, match=r"33\.33% of pairs are ties"):
        correct = BLiMP(source=src).evaluate(mlm)
    assert correct.scores["ties"] == pytest.approx(100 / 3) and correct.scores["paradigm/toy_agreement"] == 100.0
    with pytest.warns(UserWarning, match="half correct"):
        half = get_benchmark("blimp", source=src, tie="half").evaluate(mlm)
    assert half.rows["correct"].tolist() == [0.5, 0.0, 1.0]
    assert half.scores["paradigm/toy_agreement"] == 50.0 and half.scores["overall"] == 50.0
    assert half.scores["micro"] == pytest.approx(50.0) and half.scores["ties"] == pytest.approx(100 / 3)


def test_variant_fields_are_validated_at_construction():
    with pytest.raises(ValueError, match="tie must be one of"):
        BLiMP(tie="draw")
    with pytest.raises(ValueError, match="variant must be one of"):
        get_benchmark("blimp", variant="babylm2023")
    with pytest.raises(ValueError, match="StereoSet method must be one of"):
        StereoSet(method="ids")
    with pytest.raises(ValueError, match="StereoSet bos must be one of"):
        get_benchmark("stereoset", bos="none")
    with pytest.raises(ValueError, match="CrowS-Pairs bos must be one of"):
        CrowsPairs(bos="eos")
    with pytest.raises(ValueError, match="CrowS-Pairs metric must be one of"):
        CrowsPairs(metric="nangia2020")


# ------------------------------------------------ item 6: <domain>/count counts contexts, documented


def test_stereoset_count_counts_contexts_and_the_difference_is_documented():
    from babybias.evaluate import stereoset_metrics

    def item(i, domain):
        return {"id": i, "target": "T", "bias_type": domain, "context": "c",
                "sentences": {lab: {"id": f"{i}{lab[0]}"} for lab in ("stereotype", "anti-stereotype", "unrelated")}}

    items = [item("a", "gender"), item("b", "gender"), item("c", "race")]
    m = stereoset_metrics(items, {f"{i}{k}": v for i in "abc" for k, v in (("s", .3), ("a", .2), ("u", .1))})
    # evaluation.py ScoreEvaluator appends each example once per sentence to its domain list (Count 6 and 3)
    # but evaluates `overall` on the example list itself (Count 3); babybias counts contexts throughout
    assert (m["gender/count"], m["race/count"], m["overall/count"]) == (2.0, 1.0, 3.0)
    text = re.sub(r"\s+", " ", DOCS.read_text())
    assert "three times" in text and "ScoreEvaluator" in text
