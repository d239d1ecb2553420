"""Small random models and tokenizers for tests, demos and benchmarks (no hub access needed).

The tokenizers are trained with the ``tokenizers`` library on text the package ships (BLiMP,
CrowS-Pairs and WinoBias sentences), so they cover the benchmarks' words; the models are
randomly initialised ``transformers`` BERT / GPT-2 of a few hundred thousand parameters.
"""

from __future__ import annotations

from typing import Iterable, Literal

import torch


def shipped_sentences(per_paradigm: int = 60) -> list[str]:
    """Sentences from the shipped benchmark files (deterministic order)."""
    from .evaluate import load_blimp, load_crows_pairs, load_winobias

    texts = []
    seen: dict[str, int] = {}
    for r in load_blimp():
        if seen.get(r["UID"], 0) < per_paradigm:
            seen[r["UID"]] = seen.get(r["UID"], 0) + 1
            texts += [r["sentence_good"], r["sentence_bad"]]
    for r in load_crows_pairs():
        texts += [r["sent_more"], r["sent_less"]]
    texts += [r["sentence"] for r in load_winobias("all")]
    return texts


def tiny_tokenizer(kind: Literal["wordpiece", "bpe"] = "wordpiece", texts: Iterable[str] | None = None, vocab_size: int = 2000):
    """A ``PreTrainedTokenizerFast``: BERT-style uncased WordPiece, or GPT-2-style byte-level BPE."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    texts = list(shipped_sentences() if texts is None else texts)
    if kind == "wordpiece":
        special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=special, show_progress=False))
        # The trainer numbers equal-frequency tokens in hash order, which changes from process to process;
        # WordPiece's greedy longest match does not depend on the ids, so renumbering them sorted makes them fixed.
        learned = sorted(set(tok.get_vocab()) - set(special))
        tok.model = models.WordPiece({t: i for i, t in enumerate(special + learned)}, unk_token="[UNK]")
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
        )
        return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                       sep_token="[SEP]", mask_token="[MASK]")
    if kind == "bpe":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
        tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"], show_progress=False,
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                       unk_token="<|endoftext|>", pad_token="<|endoftext|>")
    raise ValueError(f"kind must be 'wordpiece' or 'bpe', got {kind!r}")


def tiny_masked_lm(tokenizer, hidden: int = 64, layers: int = 2, heads: int = 2, seed: int = 0, **config):
    """A randomly initialised ``BertForMaskedLM`` sized for ``tokenizer`` (eval mode)."""
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=4 * hidden, max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id, **config)
    return BertForMaskedLM(cfg).eval()


def tiny_causal_lm(tokenizer, hidden: int = 64, layers: int = 2, heads: int = 2, seed: int = 0, **config):
    """A randomly initialised ``GPT2LMHeadModel`` sized for ``tokenizer`` (eval mode)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=len(tokenizer), n_embd=hidden, n_layer=layers, n_head=heads, n_positions=512,
                     bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, **config)
    return GPT2LMHeadModel(cfg).eval()
