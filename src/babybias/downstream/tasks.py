"""The two downstream tasks as small declarative objects: what data, which metrics, which primary one.

A task knows its classes, how to read its data (:meth:`DownstreamTask.load`), how to score a
classifier's test predictions (:meth:`DownstreamTask.score`: every metric with a bootstrap interval
over test items, plus a per-group table) and, for the bias-transfer regression, the per-group rows
(:meth:`DownstreamTask.groups`): the group's signed gap, and the co-occurrence of group and label
in the fine-tuning data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..helpers.registry import Registry
from .data import (BIOS_PROFESSIONS, DataError, identity_terms, load_bios, load_toxicity, madlibs_77k,
                   share_female, split_frame, wikipedia_toxicity_test)
from .bias_in_bios import bios_metrics
from .estimates import Estimate
from .toxicity import term_masks, toxicity_metrics

__all__ = ["DownstreamTask", "BiosTask", "ToxicityTask", "get_task", "TASKS"]


@dataclass
class DownstreamTask:
    """Base: subclasses set ``name``, ``classes``, ``primary_metric`` and implement the methods."""

    name = "task"
    primary_metric = ""
    terms: tuple[str, ...] = ()

    @property
    def classes(self) -> tuple[str, ...]:
        raise NotImplementedError

    def load(self, train: Any, test: Any, seed: int, max_train: int | None, max_test: int | None,
             test_size: float) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
        raise NotImplementedError

    def score(self, probs: dict[str, np.ndarray], tests: dict[str, pd.DataFrame], train: pd.DataFrame,
              reference_train: pd.DataFrame, *, n_resamples: int, seed: int) -> tuple[dict[str, Estimate], pd.DataFrame]:
        raise NotImplementedError


@dataclass
class BiosTask(DownstreamTask):
    """Occupation from biography, 28 classes; primary metric GAP_RMS (lower is fairer)."""

    name = "bios"
    primary_metric = "gap_rms"

    @property
    def classes(self) -> tuple[str, ...]:
        return BIOS_PROFESSIONS

    def load(self, train, test, seed, max_train, max_test, test_size):
        train = None if isinstance(train, str) and train == "hub" else train
        frame = load_bios(train, "train", max_rows=None)
        if test is None and train is None:  # the hub copy has its own test split
            tests = load_bios(None, "test", max_rows=max_test, seed=seed)
            return _cap(frame, max_train, seed), {"bios": tests}
        if test is None:
            frame, held = split_frame(frame, test_size, seed=0, stratify="label")
        else:
            held = load_bios(test, "test")
        return _cap(frame, max_train, seed), {"bios": _cap(held, max_test, seed)}

    def score(self, probs, tests, train, reference_train, *, n_resamples, seed):
        test = tests["bios"]
        pred = [BIOS_PROFESSIONS[i] for i in probs["bios"].argmax(axis=1)]
        summary, table = bios_metrics(test.profession.tolist(), pred, test.gender.tolist(), BIOS_PROFESSIONS,
                                      share_female(reference_train), n_resamples=n_resamples, seed=seed)
        cooc = share_female(train)
        table["train_share_female"] = [cooc.get(o, np.nan) for o in table.occupation]
        table = table.rename(columns={"occupation": "group"})
        table["signed_gap"] = table["gap"]
        table["cooccurrence"] = table["train_share_female"]
        return summary, table


@dataclass
class ToxicityTask(DownstreamTask):
    """Toxicity with identity terms; evaluation on the templated ``madlibs`` set (primary metric its
    FPED at the equal-error-rate threshold, lower is fairer) and the labelled ``wikipedia`` comments."""

    name = "toxicity"
    primary_metric = "madlibs/fped"
    terms: tuple[str, ...] = field(default_factory=lambda: tuple(identity_terms()))

    @property
    def classes(self) -> tuple[str, ...]:
        return ("non-toxic", "toxic")

    def load(self, train, test, seed, max_train, max_test, test_size):
        if train is None:
            raise DataError("the toxicity task needs fine-tuning data: a file with text and a toxicity label "
                            "(Jigsaw's train.csv, civil_comments, Wikipedia Talk), or 'hub' for google/civil_comments, "
                            "or 'wikipedia-sample' for the shipped 1,492 labelled comments (a small stand-in)")
        tests = {"madlibs": madlibs_77k()}
        if isinstance(train, str) and train == "wikipedia-sample":
            comments = wikipedia_toxicity_test()
            frame, held = split_frame(comments[["text", "label"]], test_size, seed=0, stratify="label")
            tests["wikipedia"] = held
        else:
            frame = load_toxicity(None if isinstance(train, str) and train == "hub" else train)
            tests["wikipedia"] = wikipedia_toxicity_test()[["text", "label"]]
        if test is not None:
            tests["user"] = load_toxicity(test)
        tests = {k: _cap(v, max_test, seed, stratify="template" if "template" in v.columns else "label")
                 for k, v in tests.items()}
        return _cap(frame, max_train, seed), tests

    def score(self, probs, tests, train, reference_train, *, n_resamples, seed):
        summary, tables = {}, []
        for name, test in tests.items():
            s, table = toxicity_metrics(probs[name][:, 1], test.label.to_numpy(), test.text.tolist(), self.terms,
                                        n_resamples=n_resamples, seed=seed)
            for k, v in s.items():
                summary[f"{name}/{k}"] = v
            if name == "madlibs":
                tables.append(table)
        table = tables[0] if tables else pd.DataFrame()
        masks = term_masks(train.text.tolist(), list(self.terms))
        labels = train.label.to_numpy()
        with np.errstate(invalid="ignore"):
            table["train_n"] = masks.sum(axis=0)
            table["train_toxic_share"] = (masks & (labels[:, None] == 1)).sum(axis=0) / masks.sum(axis=0)
        table = table.rename(columns={"term": "group"})
        table["signed_gap"] = table["fpr_diff"]
        table["cooccurrence"] = table["train_toxic_share"]
        return summary, table


def _cap(frame: pd.DataFrame, n: int | None, seed: int, stratify: str = "label") -> pd.DataFrame:
    """At most ``n`` rows, a seeded sample stratified on ``stratify`` where possible."""
    if n is None or len(frame) <= n:
        return frame.reset_index(drop=True)
    _, kept = split_frame(frame, n, seed=seed, stratify=stratify)
    return kept


#: task name → :class:`DownstreamTask` class (a helpers.Registry: ``TASKS.register(MyTask, "name")`` adds one)
TASKS: Registry[type[DownstreamTask]] = Registry("downstream task", {"bios": BiosTask, "toxicity": ToxicityTask},
                                                 kind=type)


def get_task(spec: Any) -> DownstreamTask:
    """A task from an instance or a name (``bios``, ``toxicity``)."""
    if isinstance(spec, DownstreamTask):
        return spec
    if spec not in TASKS:
        raise ValueError(f"unknown downstream task {spec!r}; known: {sorted(TASKS)}")
    return TASKS[spec]()
