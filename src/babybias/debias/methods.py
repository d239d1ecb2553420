"""Sent-Debias and INLP for any masked or causal LM: their data recipes, fitted on the LM head's input.

By default both do what bias-bench (McGill-NLP/bias-bench; Meade et al. 2022) does, rule for rule:
the data recipes of ``bias_bench/dataset/sentence_debias.py`` and ``bias_bench/dataset/inlp.py``,
Sent-Debias's batching and 128-token cut (``compute_gender_subspace``), INLP's cut at the model's
maximum and its training-feature scale (``bias_bench/debias/inlp/``). babybias's earlier recipes are
kept as named variants (``recipe="per-occurrence"``, ``recipe="word-boundary"``); docs/debias.md
lists every rule. Two differences hold for every model: the representations are read at the LM
head's input (:func:`~babybias.debias.base.head_inputs`, where the projection then acts) rather than
from a separately loaded encoder (for BERT the same tensor), and the hidden size is the model's own
(bias-bench hard-codes 768). Each corpus text is taken as one sentence (bias-bench splits its
Wikipedia paragraphs with ``nltk.sent_tokenize`` first). The default corpus is the Wikipedia sample
shipped with babybias (16,316 sentences), far smaller than bias-bench's 2.5 % of English Wikipedia.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..corpus import WordPairs, wikipedia_sample
from ..corpus.core import column_values
from ..corpus.wordlists import Swapper, word_regex
from ..helpers.registry import Registry
from .base import DebiasError, ProjectionDebiaser, head_inputs, hidden_size
from .projections import BIAS_BENCH_TRAIN_SCALE, inlp, sent_debias_subspace, subspace_removal

__all__ = ["SentDebias", "INLP", "counterfactual_pairs", "inlp_sentences", "SENT_DEBIAS_RECIPES", "INLP_RECIPES"]


def _positive_int(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def _check_recipe(recipe: str, allowed: Registry) -> None:
    if recipe not in allowed:
        raise ValueError(f"recipe must be one of {list(allowed)}, got {recipe!r}")


def _texts(corpus) -> list[str]:
    if corpus is None:
        corpus = wikipedia_sample()
    if isinstance(corpus, (list, tuple)):
        texts = list(corpus)
    else:
        texts = column_values(corpus)
    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    if not texts:
        raise DebiasError("the corpus has no non-empty text")
    return texts


def _bias_bench_counterfactuals(texts: Sequence[str], pairs: WordPairs) -> tuple[list[str], list[str]]:
    """bias-bench's ``_gender_augment_func`` after ``_GenericDataset.load_examples``: each text lower-cased
    and stripped, split on " "; for each pair (w0, w1) in list order, one pair if w0 is a token (every w0
    swapped for w1), then one if w1 is (every w1 swapped for w0)."""
    a, b = [], []
    for text in texts:
        sentence = text.lower().strip()
        words = sentence.split(" ")
        for w0, w1 in pairs.pairs:
            for old, new in ((w0, w1), (w1, w0)):
                if old in words:
                    a.append(sentence)
                    b.append(" ".join(new if w == old else w for w in words))
    return a, b


def _per_occurrence_counterfactuals(texts: Sequence[str], pairs: WordPairs) -> tuple[list[str], list[str]]:
    """babybias's earlier recipe: one pair per occurrence (word-boundary match, case kept), that one swapped."""
    swapper = Swapper(pairs)
    a, b = [], []
    for text in texts:
        for m in swapper.find(text):
            other = swapper.counterpart(m.group(0), text, m.end())
            if other.lower() != m.group(0).lower():
                a.append(text)
                b.append(text[: m.start()] + other + text[m.end():])
    return a, b


#: Sent-Debias data recipes (name → its counterfactual pairs): bias-bench's (default) and babybias's earlier one.
SENT_DEBIAS_RECIPES: Registry[Callable[..., tuple[list[str], list[str]]]] = Registry("Sent-Debias recipe", {
    "bias-bench": _bias_bench_counterfactuals, "per-occurrence": _per_occurrence_counterfactuals})


def counterfactual_pairs(texts: Sequence[str], pairs: WordPairs, max_pairs: int | None = None, seed: int = 0,
                         recipe: str = "bias-bench") -> tuple[list[str], list[str]]:
    """Sent-Debias's data: sentences and their counterfactuals.

    ``recipe="bias-bench"`` (default): one pair per attribute word found, every occurrence of it swapped,
    on the lower-cased text split on " " (so "him." is not "him"). ``"per-occurrence"``: babybias's
    earlier recipe. ``max_pairs`` keeps a seeded random subset, in order (bias-bench keeps all).
    """
    _check_recipe(recipe, SENT_DEBIAS_RECIPES)
    a, b = SENT_DEBIAS_RECIPES[recipe](texts, pairs)
    if max_pairs is not None and len(a) > max_pairs:
        keep = sorted(random.Random(seed).sample(range(len(a)), max_pairs))
        a, b = [a[i] for i in keep], [b[i] for i in keep]
    return a, b


def _bias_bench_inlp(order: Sequence[str], class_words: list[list[str]], n_per_class: int, min_words: int,
                     rng: random.Random) -> list[list[str]]:
    """bias-bench's ``_load_gender_data`` / ``_load_race_data`` loop over already shuffled sentences
    (``class_words``: each class's lower-cased attribute words, matched exactly)."""
    groups = [set(w) for w in class_words]
    kept: list[list[str]] = [[] for _ in range(len(groups) + 1)]
    seen: list[set[str]] = [set() for _ in groups]
    neutral = len(groups)
    for sentence in order:
        tokens = [t.lower() for t in sentence.split(" ")]
        if len(tokens) < min_words:
            continue
        flags, idx = [False] * len(groups), -1
        for token in tokens:  # idx: the first position of the last attribute token met
            for g, words in enumerate(groups):
                if token in words:
                    flags[g], idx = True, tokens.index(token)
        if not any(flags):
            if len(kept[neutral]) < n_per_class:
                kept[neutral].append(" ".join(tokens[: rng.randint(4, len(tokens))]))  # 4 words or more
        elif sum(flags) == 1:
            g = flags.index(True)
            if len(kept[g]) < n_per_class and sentence not in seen[g]:  # duplicates skipped
                seen[g].add(sentence)
                kept[g].append(" ".join(tokens[: rng.randint(idx, len(tokens)) + 1]))
        if all(len(k) >= n_per_class for k in kept):
            break
    return kept


def _word_boundary_inlp(order: Sequence[str], class_words: list[list[str]], n_per_class: int, min_words: int,
                        rng: random.Random) -> list[list[str]]:
    """babybias's earlier recipe: word-boundary matches, case kept, a biased sentence cut uniformly at or
    after its first attribute word, a neutral one after word 5 or later, duplicates kept."""
    groups = [word_regex(w) for w in class_words]
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
    return kept


#: INLP data recipes (name → the class sentences it keeps): bias-bench's (default) and babybias's earlier one.
INLP_RECIPES: Registry[Callable[..., list[list[str]]]] = Registry("INLP recipe", {
    "bias-bench": _bias_bench_inlp, "word-boundary": _word_boundary_inlp})


def inlp_sentences(texts: Sequence[str], pairs: WordPairs | None = None, bias_words: Sequence[str] | None = None,
                   n_per_class: int = 10_000, seed: int = 0, min_words: int = 5,
                   recipe: str = "bias-bench") -> tuple[list[str], np.ndarray]:
    """INLP's data: up to ``n_per_class`` sentences of each class, each cut at a random point.

    Gender (``pairs``): classes 0 = male (a first word of a pair), 1 = female, 2 = neutral (neither);
    sentences with both skipped. With ``bias_words`` (race, religion): 0 = contains one, 1 = neutral.
    ``recipe="bias-bench"`` (default, bias-bench's ``_load_gender_data``): ``random.seed(seed)``, the
    texts shuffled, those under ``min_words`` " "-split tokens skipped, tokens lower-cased and matched
    exactly ("queen." is no attribute word); a neutral sentence keeps its first ``randint(4, n)`` tokens,
    a biased one its first ``randint(i, n) + 1`` (i: first position of the last attribute token), a
    repeated biased sentence is skipped. ``"word-boundary"``: babybias's earlier recipe.
    """
    _check_recipe(recipe, INLP_RECIPES)
    _positive_int(n_per_class, "n_per_class")
    if recipe == "bias-bench" and min_words < 4:
        raise ValueError(f"min_words must be >= 4 for bias-bench's recipe (neutral sentences keep 4+ words), "
                         f"got {min_words!r}")
    rng = random.Random(seed)  # bias-bench: one global random, seeded, shuffles and then cuts
    order = list(texts)
    rng.shuffle(order)
    if recipe == "word-boundary":
        rng = random.Random(seed)
    if bias_words is not None:
        words = [[w.lower() for w in bias_words]]
    else:
        pairs = pairs or WordPairs.gender()
        words = [[m for m, _ in pairs.pairs], [f for _, f in pairs.pairs]]
    kept = INLP_RECIPES[recipe](order, words, n_per_class, min_words, rng)
    sentences = [s for k in kept for s in k]
    labels = np.array([c for c, k in enumerate(kept) for _ in k], dtype=int)
    if len(set(labels.tolist())) < 2:
        raise DebiasError(f"the corpus gives sentences of only {len(set(labels.tolist()))} class(es) "
                          f"(counts {[len(k) for k in kept]}); INLP needs two or more")
    return sentences, labels


@dataclass
class SentDebias(ProjectionDebiaser):
    """Sent-Debias (Liang et al. 2020, as in bias-bench): remove a bias subspace from the head's input.

    ``fit``: counterfactual sentence pairs from the corpus (:func:`counterfactual_pairs`; with
    ``recipe="bias-bench"`` only the first ``len // batch_size`` full batches are kept, as bias-bench's
    ``compute_gender_subspace`` does), each sentence cut at 128 tokens, mean-pooled and L2-normalised,
    pairs centred on their means, PCA; the first ``k`` components span the subspace (bias-bench: k = 1).
    ``apply``: ``h ← h − Σ (h·v)v``. ``recipe="per-occurrence"`` is babybias's earlier recipe (one pair
    per occurrence, case kept, every pair used). ``max_pairs`` keeps a seeded random subset (bias-bench:
    None, all). ``pairs``: the attribute word pairs (default the shipped Zhao et al. 2018 gender pairs;
    bias-bench's 57 with ``WordPairs.from_bias_bench(path)``; race or religion pairs of your own).
    """

    pairs: WordPairs = field(default_factory=WordPairs.gender)
    k: int = 1
    max_pairs: int | None = None
    batch_size: int = 32
    seed: int = 0
    recipe: str = "bias-bench"
    name = "sent-debias"

    def __post_init__(self) -> None:
        _positive_int(self.k, "k")
        if self.max_pairs is not None:
            _positive_int(self.max_pairs, "max_pairs")
        _positive_int(self.batch_size, "batch_size")
        _check_recipe(self.recipe, SENT_DEBIAS_RECIPES)

    def fit_projection(self, model, tokenizer, corpus) -> tuple[np.ndarray, dict[str, Any]]:
        d = hidden_size(model)
        if d is not None and self.k > d:  # before any encoding
            raise DebiasError(f"sent-debias: k (--k) must be from 1 to the model's hidden size {d}, got {self.k}")
        a, b = counterfactual_pairs(_texts(corpus), self.pairs, self.max_pairs, self.seed, self.recipe)
        found = len(a)
        if self.recipe == "bias-bench":  # n_batches = len(data) // batch_size: the last len % batch_size dropped
            a, b = a[: found - found % self.batch_size], b[: found - found % self.batch_size]
        if not a:
            raise DebiasError(f"the corpus gives {found} counterfactual pair(s) of the listed attribute words; "
                              f"bias-bench's batching keeps only whole batches of batch_size={self.batch_size}: "
                              "nothing to fit")
        if self.k > 2 * len(a):
            raise DebiasError(f"sent-debias: k (--k) must be at most 2 x the {len(a)} pairs, got {self.k}")
        ea = head_inputs(model, tokenizer, a, batch_size=self.batch_size, head=self.head, max_length=128)
        eb = head_inputs(model, tokenizer, b, batch_size=self.batch_size, head=self.head, max_length=128)
        ea /= np.linalg.norm(ea, axis=1, keepdims=True).clip(min=1e-12)
        eb /= np.linalg.norm(eb, axis=1, keepdims=True).clip(min=1e-12)
        self.subspace_ = sent_debias_subspace(ea, eb, k=self.k)
        return subspace_removal(self.subspace_), {"n_pairs": len(a), "n_pairs_found": found, "k": self.k}


@dataclass
class INLP(ProjectionDebiaser):
    """INLP (Ravfogel et al. 2020, as in bias-bench): iteratively remove what linear classifiers use.

    ``fit``: the class sentences of :func:`inlp_sentences` (``recipe``), each cut only at the model's
    maximum length (``max_length=None``: the tokenizer's ``model_max_length``, else the model's positions;
    bias-bench's ``truncation=True``), mean-pooled (not normalised), split 70/30 and the 70 again 70/30
    (train / dev / test, seeded), then ``n_iterations`` rounds of a ``LinearSVC(fit_intercept=False,
    dual=False)`` fitted on the projected training features times ``train_scale`` (bias-bench's
    1/(1 + 1e-6)) whose rowspace is removed each time. The fit statistics hold every iteration's rank
    removed and dev accuracy, and the held-out test accuracy of a fresh logistic regression (with an
    intercept) before and after, next to the majority-class rate that it falls to when nothing linear
    is left. babybias's earlier INLP: ``recipe="word-boundary", max_length=128, train_scale=1.0``.

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
    recipe: str = "bias-bench"
    max_length: int | None = None
    train_scale: float = BIAS_BENCH_TRAIN_SCALE
    name = "inlp"

    def __post_init__(self) -> None:
        for attr in ("n_per_class", "n_iterations", "batch_size"):
            _positive_int(getattr(self, attr), attr)
        if self.stop_at is not None and not 0 <= self.stop_at < 1:
            raise ValueError(f"stop_at must be None or in [0, 1), got {self.stop_at!r}")
        _check_recipe(self.recipe, INLP_RECIPES)
        if self.max_length is not None:
            _positive_int(self.max_length, "max_length")
        if not (np.isfinite(self.train_scale) and self.train_scale > 0):
            raise ValueError(f"train_scale must be a finite number > 0, got {self.train_scale!r}")

    def encode(self, model, tokenizer, sentences: Sequence[str]) -> np.ndarray:
        """The features INLP is fitted on: each sentence's head input, mean-pooled, cut at ``max_length``."""
        return head_inputs(model, tokenizer, sentences, batch_size=self.batch_size, head=self.head,
                           max_length=self.max_length)

    def fit_projection(self, model, tokenizer, corpus) -> tuple[np.ndarray, dict[str, Any]]:
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import train_test_split

        sentences, labels = inlp_sentences(_texts(corpus), self.pairs, self.bias_words, self.n_per_class, self.seed,
                                           recipe=self.recipe)
        X = self.encode(model, tokenizer, sentences)
        X_train, X_test, y_train, y_test = train_test_split(X, labels, test_size=0.3, random_state=self.seed)
        X_train, X_dev, y_train, y_dev = train_test_split(X_train, y_train, test_size=0.3, random_state=self.seed)
        majority_dev = float(np.bincount(y_dev).max() / len(y_dev))
        min_accuracy = None if self.stop_at is None else min(1.0, majority_dev + float(self.stop_at))
        result = inlp(X_train, y_train, X_dev, y_dev, n_iterations=self.n_iterations, seed=self.seed,
                      min_accuracy=min_accuracy, train_scale=self.train_scale)
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
