"""Sent-Debias and INLP for any masked or causal LM: their data recipes, fitted on the LM head's input.

Both follow bias-bench (Meade et al. 2022; ``../shared/references/methods.md``), with two
differences said here once: the representations are read at the LM head's input
(:func:`~babybias.debias.base.head_inputs`, where the projection then acts) rather than from a
separately loaded encoder — the same tensor for BERT, the one GPT-BERT's and LTG-BERT's heads read —
and the hidden size is the model's own (bias-bench hard-codes 768). The default corpus is the
Wikipedia sample shipped with babybias (16,316 sentences), far smaller than bias-bench's 2.5 % of
English Wikipedia; pass your own ``datasets.Dataset`` / list of sentences for a faithful run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..corpus import WordPairs, wikipedia_sample
from ..corpus.core import column_values
from ..corpus.wordlists import Swapper, word_regex
from .base import ProjectionDebiaser, head_inputs
from .projections import inlp, sent_debias_subspace, subspace_removal

__all__ = ["SentDebias", "INLP", "counterfactual_pairs", "inlp_sentences"]


def _positive_int(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def _texts(corpus) -> list[str]:
    if corpus is None:
        corpus = wikipedia_sample()
    if isinstance(corpus, (list, tuple)):
        texts = list(corpus)
    else:
        texts = column_values(corpus)
    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    if not texts:
        raise ValueError("the corpus has no non-empty text")
    return texts


def counterfactual_pairs(texts: Sequence[str], pairs: WordPairs, max_pairs: int | None = None,
                         seed: int = 0) -> tuple[list[str], list[str]]:
    """Sent-Debias's data: for every occurrence of a listed word, the sentence and its counterfactual
    with that one occurrence swapped for its counterpart (bias-bench swaps one attribute word per
    pair). ``max_pairs`` keeps a seeded random subset."""
    swapper = Swapper(pairs)
    a, b = [], []
    for text in texts:
        for m in swapper.find(text):
            other = swapper.counterpart(m.group(0), text, m.end())
            if other.lower() != m.group(0).lower():
                a.append(text)
                b.append(text[: m.start()] + other + text[m.end():])
    if max_pairs is not None and len(a) > max_pairs:
        keep = sorted(random.Random(seed).sample(range(len(a)), max_pairs))
        a, b = [a[i] for i in keep], [b[i] for i in keep]
    return a, b


def inlp_sentences(texts: Sequence[str], pairs: WordPairs | None = None, bias_words: Sequence[str] | None = None,
                   n_per_class: int = 10_000, seed: int = 0, min_words: int = 5) -> tuple[list[str], np.ndarray]:
    """INLP's data (bias-bench): sentences of each class, shuffled with ``seed``, those under
    ``min_words`` words skipped, each cut at a random point — a biased sentence at or after its first
    attribute word, a neutral one from word 4 on.

    Gender (``pairs``): classes 0 = male (a first word of a pair), 1 = female, 2 = neutral (neither);
    sentences with both skipped. With ``bias_words`` (race, religion): 0 = contains one, 1 = neutral.
    Words are whitespace-separated; matching is case-insensitive on word boundaries.
    """
    order = list(texts)
    random.Random(seed).shuffle(order)
    if bias_words is not None:
        groups = [word_regex([w.lower() for w in bias_words])]
    else:
        pairs = pairs or WordPairs.gender()
        groups = [word_regex([m for m, _ in pairs.pairs]), word_regex([f for _, f in pairs.pairs])]
    rng = random.Random(seed)
    kept: list[list[str]] = [[] for _ in range(len(groups) + 1)]
    for text in order:
        words = text.split()
        if len(words) < min_words:
            continue
        low = [w.lower() for w in words]
        hits = [[i for i, w in enumerate(low) if g.search(w)] for g in groups]
        present = [k for k, h in enumerate(hits) if h]
        if len(present) > 1:
            continue  # both genders: skipped
        cls = present[0] if present else len(groups)
        if len(kept[cls]) >= n_per_class:
            continue
        start = hits[cls][0] if present else 4
        if start >= len(words):
            continue
        cut = rng.randint(start, len(words) - 1)
        kept[cls].append(" ".join(words[: cut + 1]))
        if all(len(k) >= n_per_class for k in kept):
            break
    sentences = [s for k in kept for s in k]
    labels = np.array([c for c, k in enumerate(kept) for _ in k], dtype=int)
    if len(set(labels.tolist())) < 2:
        raise ValueError(f"the corpus gives sentences of only {len(set(labels.tolist()))} class(es) "
                         f"(counts {[len(k) for k in kept]}); INLP needs two or more")
    return sentences, labels


@dataclass
class SentDebias(ProjectionDebiaser):
    """Sent-Debias (Liang et al. 2020, as in bias-bench): remove a bias subspace from the head's input.

    ``fit``: counterfactual sentence pairs from the corpus (:func:`counterfactual_pairs`), each sentence
    mean-pooled over its tokens and L2-normalised, pairs centred on their means, PCA; the first ``k``
    components span the subspace (bias-bench: k = 1). ``apply``: ``h ← h − Σ (h·v)v``.
    ``pairs``: the attribute word pairs (default the shipped Zhao et al. 2018 gender pairs; bias-bench's
    57 with ``WordPairs.from_bias_bench(path)``; race or religion pairs of your own).
    """

    pairs: WordPairs = field(default_factory=WordPairs.gender)
    k: int = 1
    max_pairs: int | None = 20_000
    batch_size: int = 32
    seed: int = 0
    name = "sent-debias"

    def __post_init__(self) -> None:
        _positive_int(self.k, "k")
        if self.max_pairs is not None:
            _positive_int(self.max_pairs, "max_pairs")
        _positive_int(self.batch_size, "batch_size")

    def fit_projection(self, model, tokenizer, corpus) -> tuple[np.ndarray, dict[str, Any]]:
        a, b = counterfactual_pairs(_texts(corpus), self.pairs, self.max_pairs, self.seed)
        if not a:
            raise ValueError("no sentence of the corpus contains a listed attribute word: nothing to fit")
        ea = head_inputs(model, tokenizer, a, batch_size=self.batch_size, head=self.head)
        eb = head_inputs(model, tokenizer, b, batch_size=self.batch_size, head=self.head)
        ea /= np.linalg.norm(ea, axis=1, keepdims=True).clip(min=1e-12)
        eb /= np.linalg.norm(eb, axis=1, keepdims=True).clip(min=1e-12)
        self.subspace_ = sent_debias_subspace(ea, eb, k=self.k)
        return subspace_removal(self.subspace_), {"n_pairs": len(a), "k": self.k}


@dataclass
class INLP(ProjectionDebiaser):
    """INLP (Ravfogel et al. 2020, as in bias-bench): iteratively remove what linear classifiers use.

    ``fit``: the class sentences of :func:`inlp_sentences`, mean-pooled (not normalised), split 70/30
    and the 70 again 70/30 (train / dev / test, seeded), then ``n_iterations`` rounds of a
    ``LinearSVC(fit_intercept=False, dual=False)`` whose rowspace is removed each time. The fit
    statistics hold every iteration's rank removed and dev accuracy, and the held-out test accuracy
    of a fresh logistic regression (with an intercept) before and after, next to the majority-class
    rate that it falls to when nothing linear is left.

    ``stop_at``: None (default) runs bias-bench's fixed ``n_iterations``, sized for BERT's 768
    dimensions; a number stops at the first classifier whose dev accuracy is below the majority rate
    plus ``stop_at`` (Ravfogel et al.'s criterion, e.g. 0.01). A small model can lose most of its
    hidden state to 80 iterations (each removes up to one direction per class): a warning says so
    when over half the dimensions are gone.
    """

    pairs: WordPairs | None = None
    bias_words: Sequence[str] | None = None
    n_per_class: int = 10_000
    n_iterations: int = 80
    stop_at: float | None = None
    batch_size: int = 32
    seed: int = 0
    name = "inlp"

    def __post_init__(self) -> None:
        for attr in ("n_per_class", "n_iterations", "batch_size"):
            _positive_int(getattr(self, attr), attr)
        if self.stop_at is not None and not 0 <= self.stop_at < 1:
            raise ValueError(f"stop_at must be None or in [0, 1), got {self.stop_at!r}")

    def fit_projection(self, model, tokenizer, corpus) -> tuple[np.ndarray, dict[str, Any]]:
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import train_test_split

        sentences, labels = inlp_sentences(_texts(corpus), self.pairs, self.bias_words, self.n_per_class, self.seed)
        X = head_inputs(model, tokenizer, sentences, batch_size=self.batch_size, head=self.head)
        X_train, X_test, y_train, y_test = train_test_split(X, labels, test_size=0.3, random_state=self.seed)
        X_train, X_dev, y_train, y_dev = train_test_split(X_train, y_train, test_size=0.3, random_state=self.seed)
        majority_dev = float(np.bincount(y_dev).max() / len(y_dev))
        min_accuracy = None if self.stop_at is None else min(1.0, majority_dev + float(self.stop_at))
        result = inlp(X_train, y_train, X_dev, y_dev, n_iterations=self.n_iterations, seed=self.seed,
                      min_accuracy=min_accuracy)
        self.history_ = result.history
        removed = result.history[-1]["rank_removed"] if result.history else 0
        if removed > X.shape[1] / 2:
            import warnings

            warnings.warn(f"INLP removed {removed} of the model's {X.shape[1]} hidden dimensions: the LM head sees "
                          f"little of its input; for a small model use fewer n_iterations or stop_at=0.01",
                          stacklevel=2)

        def held_out(P: np.ndarray) -> float:
            # a fresh classifier *with* an intercept, so "nothing left to decode" reads as the majority rate
            clf = LogisticRegression(max_iter=5000).fit(X_train @ P, y_train)
            return float(clf.score(X_test @ P, y_test))

        eye = np.eye(X.shape[1])
        majority = float(np.bincount(y_test).max() / len(y_test))
        stats = {"n_sentences": int(len(labels)), "class_counts": np.bincount(labels).tolist(),
                 "iterations": result.n_iterations, "rank_removed": removed, "hidden_size": int(X.shape[1]),
                 "test_accuracy_before": held_out(eye), "test_accuracy_after": held_out(result.projection),
                 "test_majority_rate": majority}
        return result.projection, stats
