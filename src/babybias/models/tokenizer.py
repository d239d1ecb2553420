"""Tokenizer training with the ``tokenizers`` library, following the two BabyLM recipes.

* ``kind="wordpiece"`` — LTG-BERT (ltgoslo/ltg-bert ``create_tokenizer``): WordPiece over a
  byte-level pre-tokenizer (prefix space) with digits split one by one, no ``##`` continuation
  prefix, special tokens ``[UNK] [CLS] [SEP] [PAD] [MASK] [PAR] [TAB]`` (ids 0–6), min frequency
  10; encodes as ``[CLS] text [SEP]``.
* ``kind="bpe"`` — GPT-BERT (ltgoslo/gpt-bert ``create_tokenizer``): byte-level BPE after an
  NFKC normaliser that prepends a space, a GPT-style split regex and 24-character chunks, special
  tokens ``<unk> <s> </s> <pad> <mask>`` and ``<special_0…10>``; encodes as ``<s> text``.

Both return a ``PreTrainedTokenizerFast`` with its special tokens set, ready for
``save_pretrained`` and for :mod:`babybias.evaluate`. Training is deterministic for a given
input order.
"""

from __future__ import annotations

from typing import Iterable, Literal

LTG_SPECIAL_TOKENS = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "[PAR]", "[TAB]"]
GPT_BERT_SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<mask>"] + [f"<special_{i}>" for i in range(11)]
_GPT_SPLIT = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
              r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
              r"| ?\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def train_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 16384,
    kind: Literal["wordpiece", "bpe"] = "wordpiece",
    min_frequency: int | None = None,
    show_progress: bool = False,
    lowercase: bool = False,
):
    """Train a tokenizer on ``texts`` (an iterable of documents or lines) with the LTG-BERT or GPT-BERT recipe.

    ``min_frequency`` defaults to the recipe's (10 for WordPiece, 0 for BPE). Empty strings are skipped.
    ``lowercase=True`` adds a lower-casing normaliser (for lower-cased corpora; not in the references).
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 64:
        raise ValueError(f"vocab_size must be at least 64, got {vocab_size}")
    lines = (t for t in texts if isinstance(t, str) and t.strip())
    if kind == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix=""))
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.ByteLevel(add_prefix_space=True),
                                                     pre_tokenizers.Digits(individual_digits=True)])
        tok.decoder = decoders.ByteLevel()
        if lowercase:
            tok.normalizer = normalizers.Lowercase()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=LTG_SPECIAL_TOKENS, show_progress=show_progress,
                                            min_frequency=10 if min_frequency is None else min_frequency,
                                            continuing_subword_prefix="")
        tok.train_from_iterator(lines, trainer)
        cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=True),
            processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
                                          special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]),
        ])
        return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
                                       pad_token="[PAD]", mask_token="[MASK]", additional_special_tokens=["[PAR]", "[TAB]"])
    if kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=False, fuse_unk=False, ignore_merges=True))
        tok.normalizer = normalizers.Sequence([normalizers.Prepend(" "), normalizers.NFKC(),
                                               normalizers.Replace(Regex("\n"), "\n "), normalizers.Replace(Regex(" *\n"), "\n")]
                                              + ([normalizers.Lowercase()] if lowercase else []))
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(_GPT_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False, trim_offsets=True),
            pre_tokenizers.Split(Regex(".{1,24}"), behavior="isolated", invert=False),
        ])
        tok.decoder = decoders.Sequence([decoders.ByteLevel(add_prefix_space=False, use_regex=False),
                                         decoders.Strip(" ", 1, 0), decoders.Replace("\n ", "\n")])
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=GPT_BERT_SPECIAL_TOKENS, show_progress=show_progress,
                                      min_frequency=0 if min_frequency is None else min_frequency,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(lines, trainer)
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                           special_tokens=[("<s>", tok.token_to_id("<s>"))])
        return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                       pad_token="<pad>", mask_token="<mask>",
                                       additional_special_tokens=GPT_BERT_SPECIAL_TOKENS[5:])
    raise ValueError(f"kind must be 'wordpiece' or 'bpe', got {kind!r}")
