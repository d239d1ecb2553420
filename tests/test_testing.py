"""babybias.testing: the tiny tokenizers are the same on every call and in every process (issue 19, item 12)."""

from babybias.testing import tiny_tokenizer


def test_tiny_wordpiece_vocabulary_is_the_same_on_every_call():
    # The WordPiece trainer numbered equal-frequency tokens in hash order, which the hash keys of each run
    # (random per process and per map) changed: two calls, even in one process, gave different ids.
    first, second = tiny_tokenizer("wordpiece").get_vocab(), tiny_tokenizer("wordpiece").get_vocab()
    assert first == second
    assert len(first) == 2000 and [first[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] == [0, 1, 2, 3, 4]
