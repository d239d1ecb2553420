"""Shared fixtures: hand-built tokenizers and models whose log-probabilities are known exactly,
tiny random BERT / GPT-2 models, and the path to ../shared/data (tests needing it skip without it)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from babybias.testing import tiny_causal_lm, tiny_masked_lm, tiny_tokenizer

if os.environ.get("PYTEST_XDIST_WORKER"):  # pytest -n: the workers share the cores, so each (and what it starts)
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):  # runs one thread: no oversubscription
        os.environ[_var] = "1"
    torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "evaluate" / "fixtures"

# Word-level vocabulary used by the hand-computed tests. WEIGHTS are unnormalised unigram
# probabilities: a UnigramLM assigns log(WEIGHTS[w] / sum(WEIGHTS)) to word w wherever it is.
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WEIGHTS = {"the": 8, "a": 4, "doctor": 2, "nurse": 2, "man": 3, "woman": 1, "he": 4, "she": 1, "him": 2, "her": 1,
           "his": 2, "is": 6, "was": 6, "tall": 2, "kind": 2, "cat": 1, "cats": 1, "sleeps": 1, "sleep": 1, ".": 4,
           "asked": 2, "and": 3, "thanked": 2, "poor": 1, "rich": 3, "people": 2, "are": 3, "lazy": 1, "busy": 2}


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data, or skip the test with the reason when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (a user's clone has no ../shared/data)")
    return path


def word_level_tokenizer(words=WEIGHTS, bos: bool = False):
    """A BERT-like (or, with ``bos``, GPT-like) tokenizer with one token per whitespace/punctuation word."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIALS + list(words))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    if bos:
        return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", bos_token="[CLS]", eos_token="[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


def fixed_wordpiece_tokenizer(pieces: list[str]):
    """A BERT-like WordPiece tokenizer over exactly ``pieces`` (after the special tokens)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIALS + pieces)}
    core = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    core.decoder = decoders.WordPiece()
    core.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


def logp(word: str) -> float:
    """The UnigramLM log-probability of ``word`` (specials get weight 0 → excluded from the total)."""
    return math.log(WEIGHTS[word] / sum(WEIGHTS.values()))


class UnigramLM(torch.nn.Module):
    """Predicts the same unigram distribution at every position: PLLs and log-likelihoods are sums of ``logp``."""

    def __init__(self, kind: str, tokenizer) -> None:
        super().__init__()
        self.babybias_lm_kind = kind
        vocab = tokenizer.get_vocab()
        bias = torch.full((len(vocab),), -1e9)
        for w, c in WEIGHTS.items():
            if w in vocab:
                bias[vocab[w]] = math.log(c)
        self.bias = torch.nn.Parameter(bias)
        self.calls: list[torch.Tensor] = []

    def forward(self, input_ids, attention_mask=None):
        self.calls.append(input_ids.clone())
        return SimpleNamespace(logits=self.bias.expand(*input_ids.shape, -1))


@pytest.fixture(scope="session")
def wl_tok():
    return word_level_tokenizer()


@pytest.fixture(scope="session")
def wl_tok_bos():
    return word_level_tokenizer(bos=True)


@pytest.fixture(scope="session")
def wp_tok():
    return tiny_tokenizer("wordpiece")


@pytest.fixture(scope="session")
def bpe_tok():
    return tiny_tokenizer("bpe")


@pytest.fixture(scope="session")
def bert(wp_tok):
    return tiny_masked_lm(wp_tok, seed=0)


@pytest.fixture(scope="session")
def gpt2(bpe_tok):
    return tiny_causal_lm(bpe_tok, seed=0)


#: the slowest files (whole end-to-end runs in subprocesses) are run first, so that under ``pytest -n`` the short
#: ones fill the workers' ends instead of one long test running alone at the end
SLOW_FIRST = ("test_docs.py", "test_gpu_acceptance.py", "test_downstream_example.py", "test_tutorial.py",
              "test_transfer.py", "test_sandbox.py")


def pytest_collection_modifyitems(config, items):
    """Put the tests of :data:`SLOW_FIRST` first (a stable sort: the order within each file is kept)."""
    rank = {name: k for k, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
