"""The interventions of a bias-transfer study (Steed et al. 2022), each a small configured object.

Downstream (on the fine-tuning data): :class:`Scrub` (Bias in Bios: microsoft/biosbias's regular
expression for gendered words and titles plus the person's names; toxicity: the identity terms) and
:class:`Rebalance` (re-sample the fine-tuning data so the gender–occupation, or identity–toxicity,
co-occurrence is even). Upstream (on the model before fine-tuning): :class:`NoPretraining` (the same
architecture randomly initialised), :class:`WeightPerturbation` (Gaussian noise on the pre-trained
weights), :class:`UpstreamModel` (another pre-trained model: a sandbox model trained on an
intervened corpus, a continued-pre-training run) and :class:`UpstreamDebias` (a
``babybias.debias`` projection method fitted on the pre-trained model). :class:`Baseline` changes nothing.

Every intervention has ``name``; ``data(train, tests, task, seed) -> (train, tests, report)`` changes
the data (``tests`` maps test-set names to frames), ``source(base, seed, tokenizer)`` says which pre-trained model to start from, ``pretrained`` whether
to copy its weights, and ``model(classifier, tokenizer, seed)`` changes the classifier before
fine-tuning. Reports are plain dicts saying what changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..helpers.registry import Registry

__all__ = ["DownstreamIntervention", "Baseline", "Scrub", "Rebalance", "NoPretraining", "WeightPerturbation",
           "UpstreamModel", "UpstreamDebias", "BIOS_SCRUB_WORDS", "scrub_bio", "scrub_terms", "INTERVENTIONS",
           "get_intervention", "check_pretrained_source"]

BIOS_SCRUB_WORDS = r"[Hh]e|[Ss]he|[Hh]er|[Hh]is|[Hh]im|[Hh]ers|[Hh]imself|[Hh]erself|[Mm][Rr]|[Mm][Rr][sS]|[Mm][Ss]"
"""microsoft/biosbias ``preprocess.py``'s gendered words (only the first letter's case varies, as there)."""


def scrub_bio(text: str, names: Sequence[str] = (), replacement: str = "_") -> tuple[str, int]:
    """``(scrubbed text, number of replacements)``: biosbias's ``\\b(?:he|she|…|mr|mrs|ms|<names>)\\b``
    substitution (names escaped, empty ones dropped)."""
    alternatives = BIOS_SCRUB_WORDS
    names = [n for n in names if isinstance(n, str) and n]
    if names:
        alternatives += "|" + "|".join(re.escape(n) for n in names)
    return re.subn(r"\b(?:" + alternatives + r")\b", replacement, text)


def scrub_terms(text: str, terms: Sequence[str], replacement: str = "_") -> tuple[str, int]:
    """``(text, replacements)`` with every ``\\bterm\\b`` (case-insensitive) replaced, longest terms first."""
    if not terms:
        return text, 0
    rx = re.compile(r"\b(?:" + "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)) + r")\b",
                    flags=re.IGNORECASE)
    return rx.subn(replacement, text)


def check_pretrained_source(source: Any, what: str) -> None:
    """Refuse, before any fine-tuning, a pre-trained model that cannot be a classifier trunk: a local path
    (by ``babybias.helpers.paths``' rule) that is missing, a file, has no ``config.json``, or is a Self-Debias
    folder. A hub name and an in-memory model pass (the hub is asked when the cell loads it)."""
    from ..helpers.paths import looks_local, require_local
    from ..debias.self_debias import INFO_FILE as SELF_DEBIAS_FILE
    from .data import DataError

    if isinstance(source, nn.Module) or not looks_local(source):
        return
    path = require_local(source, what)
    if not path.is_dir():
        raise DataError(f"{what} {source} is a file; give the folder that save_pretrained wrote")
    if (path / SELF_DEBIAS_FILE).exists():
        raise DataError(f"{what} {source} is a Self-Debias model ({SELF_DEBIAS_FILE}, from 'babybias debias "
                        "self-debias'): Self-Debias rescales the LM's token probabilities at prediction time and "
                        "leaves every weight as it was, so it cannot be fine-tuned as a classifier trunk (that "
                        "would fine-tune the undebiased model); give the original model, or a projection "
                        "debiaser (--interventions sent_debias inlp, or a 'babybias debias sent-debias/inlp' folder)")
    if not (path / "config.json").exists():
        final = path / "final"
        hint = f"; a training run's model is in {final}" if (final / "config.json").exists() else ""
        raise DataError(f"{what} {source} has no config.json: not a save_pretrained folder{hint}")


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v) for v in value if v]
    return []


@dataclass
class DownstreamIntervention:
    """Changes nothing; subclasses override the parts they change."""

    name = "baseline"
    pretrained = True

    def data(self, train: pd.DataFrame, tests: dict[str, pd.DataFrame], task,
             seed: int) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], dict]:
        return train, tests, {}

    def source(self, base: Any, seed: int, tokenizer=None) -> Any:
        return base

    def model(self, classifier: nn.Module, tokenizer, seed: int) -> nn.Module:
        return classifier

    def check(self, seeds: Sequence[int]) -> None:
        """Raise now (before any cell fine-tunes) for an option that would fail in a cell of ``seeds``."""

    def params(self) -> dict:
        """The intervention's options as plain data (for the grid's fingerprint and reports)."""
        return {k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v))
                for k, v in vars(self).items() if not k.startswith("_")}


@dataclass
class Baseline(DownstreamIntervention):
    """The pre-trained model fine-tuned on the data as it is."""

    name = "baseline"


@dataclass
class Scrub(DownstreamIntervention):
    """Scrub the identity signal from the text. Bias in Bios: biosbias's gendered words and the person's
    names (a ``name`` column, plus ``extra_names``), in the fine-tuning *and* the test bios (a deployed
    scrubbed classifier scrubs its input). Toxicity: the identity terms, in the fine-tuning data only
    (the templated test sets are built from them)."""

    extra_names: tuple[str, ...] = ()
    replacement: str = "_"
    name = "scrub"

    def data(self, train, tests, task, seed):
        if task.name == "bios":
            def one(frame):
                texts, count = [], 0
                names = frame["name"] if "name" in frame.columns else [None] * len(frame)
                for t, n in zip(frame["text"], names):
                    s, k = scrub_bio(t, [*_names(n), *self.extra_names], self.replacement)
                    texts.append(s)
                    count += k
                return frame.assign(text=texts), count

            train, a = one(train)
            scrubbed = {name: one(frame) for name, frame in tests.items()}
            return train, {name: f for name, (f, _) in scrubbed.items()}, {
                "replaced_train": a, "replaced_test": sum(k for _, k in scrubbed.values()),
                "names_from": "name column" if "name" in train.columns else "none (no name column)"}
        terms = list(task.terms)
        texts, count = [], 0
        for t in train["text"]:
            s, k = scrub_terms(t, terms, self.replacement)
            texts.append(s)
            count += k
        return train.assign(text=texts), tests, {"replaced_train": count, "terms": len(terms)}


@dataclass
class Rebalance(DownstreamIntervention):
    """Re-sample the fine-tuning data (seeded, with replacement) so that identity and label are
    independent. Bias in Bios: within each occupation, ``oversample`` the less frequent gender up to the
    other (or ``undersample`` the more frequent one down); an occupation with one gender only stays as it
    is. Toxicity: for each identity term whose toxic share exceeds the data's, add copies of its
    non-toxic texts until the shares match (Dixon et al. 2018 added non-toxic texts with the terms)."""

    mode: str = "oversample"
    name = "rebalance"

    def __post_init__(self) -> None:
        if self.mode not in ("oversample", "undersample"):
            raise ValueError(f"Rebalance.mode must be 'oversample' or 'undersample', got {self.mode!r}")

    def data(self, train, tests, task, seed):
        rng = np.random.default_rng(seed)
        if task.name == "bios":
            parts, skipped = [], []
            for occ, group in train.groupby("profession", sort=True):
                f, m = group[group.gender == "female"], group[group.gender == "male"]
                if len(f) == 0 or len(m) == 0:
                    parts.append(group)
                    skipped.append(occ)
                    continue
                small, large = (f, m) if len(f) <= len(m) else (m, f)
                if self.mode == "oversample":
                    extra = small.iloc[rng.integers(0, len(small), len(large) - len(small))]
                    parts += [large, small, extra]
                else:
                    parts += [small, large.iloc[np.sort(rng.choice(len(large), len(small), replace=False))]]
            out = pd.concat(parts).reset_index(drop=True)
            return out, tests, {"rows_before": len(train), "rows_after": len(out), "one_gender_only": skipped}
        from .toxicity import term_masks

        out = train.reset_index(drop=True)
        overall = float(out.label.mean())
        added, unreachable = {}, []
        for term in task.terms:
            mask = term_masks(out.text.tolist(), [term])[:, 0]
            toxic, n = int(out.label[mask].sum()), int(mask.sum())
            if n == 0 or overall == 0 or toxic / n <= overall:
                continue
            pool = out[mask & (out.label == 0)]
            if len(pool) == 0:
                unreachable.append(term)
                continue
            k = int(np.ceil(toxic / overall - n))
            out = pd.concat([out, pool.iloc[rng.integers(0, len(pool), k)]]).reset_index(drop=True)
            added[term] = k
        return out, tests, {"rows_before": len(train), "rows_after": len(out), "added": added,
                           "no_nontoxic_text": unreachable, "toxic_share": overall}


@dataclass
class NoPretraining(DownstreamIntervention):
    """The same architecture with every weight randomly initialised (seeded): no pre-training at all."""

    name = "no_pretraining"
    pretrained = False


@dataclass
class WeightPerturbation(DownstreamIntervention):
    """Add Gaussian noise to the pre-trained trunk before fine-tuning: each weight tensor θ gets
    ε ~ N(0, (scale · std θ)²) (seeded; tensors with one value are left alone). Steed et al. perturb the
    weights to vary upstream bias at random; this per-tensor relative scale is babybias's parametrisation."""

    scale: float = 0.1
    name = "weight_perturbation"

    def __post_init__(self) -> None:
        if not (self.scale > 0):
            raise ValueError(f"WeightPerturbation.scale must be > 0, got {self.scale!r}")

    def model(self, classifier, tokenizer, seed):
        generator = torch.Generator().manual_seed(int(seed) + 7919)
        with torch.no_grad():
            for _, p in sorted(classifier.base_model.named_parameters()):
                if p.numel() > 1 and p.dtype.is_floating_point:
                    noise = torch.randn(p.shape, generator=generator, dtype=torch.float32)
                    p.add_((noise * self.scale * p.detach().float().std()).to(p.dtype))
        return classifier


@dataclass
class UpstreamModel(DownstreamIntervention):
    """Start from another pre-trained model: a folder or hub id, where ``{seed}`` is replaced by the
    fine-tuning seed (so seed k pairs with, e.g., the sandbox's ``cells/cda/seed-{seed}/train/final``)."""

    path: str = ""
    label: str = "upstream"

    def __post_init__(self) -> None:
        if not self.path:
            raise ValueError("UpstreamModel needs path= (a model folder or hub id; {seed} is filled in)")

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.label

    def source(self, base, seed, tokenizer=None):
        return self.path.format(seed=seed)

    def check(self, seeds):
        """Every seed's folder exists and is a model folder (a hub name is left to the hub)."""
        for seed in seeds:
            try:
                path = self.path.format(seed=seed)
            except (KeyError, IndexError, ValueError) as err:
                raise ValueError(f"upstream model {self.label}: path {self.path!r} may hold only {{seed}} "
                                 f"({type(err).__name__}: {err})") from None
            check_pretrained_source(path, f"upstream model {self.label!r} folder")


@dataclass
class UpstreamDebias(DownstreamIntervention):
    """A ``babybias.debias`` projection method (``SentDebias()``, ``INLP()``) fitted on the pre-trained
    model, its projection applied at the classifier input and kept fixed while fine-tuning."""

    debiaser: Any = None
    corpus: Any = None
    _fitted: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        from ..debias.base import ProjectionDebiaser

        if not isinstance(self.debiaser, ProjectionDebiaser):
            raise ValueError("UpstreamDebias needs debiaser= a projection debiaser (SentDebias(), INLP()); "
                             f"got {type(self.debiaser).__name__}")

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"upstream_{self.debiaser.name.replace('-', '_')}"

    def params(self) -> dict:
        return {"debiaser": type(self.debiaser).__name__,
                "options": {k: repr(v) for k, v in vars(self.debiaser).items() if not k.endswith("_")}}

    def source(self, base, seed, tokenizer=None):
        from ..models.loading import load_lm, load_tokenizer
        from ..models.projection import attach_projection

        if isinstance(base, nn.Module):
            if tokenizer is None:
                raise ValueError("UpstreamDebias on an in-memory model needs its tokenizer")
            lm = base
        else:
            lm, tokenizer = load_lm(str(base), "mlm"), load_tokenizer(str(base), what="model folder")
        key = (str(base) if not isinstance(base, nn.Module) else id(base))
        if key not in self._fitted:  # one fit per base model: the debiaser's own seed, not the fine-tuning seed
            self.debiaser.fit(lm, tokenizer, self.corpus)
            self._fitted[key] = self.debiaser.projection_
        return attach_projection(lm, self._fitted[key], head=self.debiaser.head)


#: name → :class:`DownstreamIntervention` class made with no arguments (a helpers.Registry: ``INTERVENTIONS.register``)
INTERVENTIONS: Registry[type[DownstreamIntervention]] = Registry("downstream intervention", kind=type, entries={
    "baseline": Baseline, "scrub": Scrub, "rebalance": Rebalance, "no_pretraining": NoPretraining,
    "weight_perturbation": WeightPerturbation})


def get_intervention(spec: Any) -> DownstreamIntervention:
    """An intervention from an instance or a name (``baseline``, ``scrub``, ``rebalance``,
    ``no_pretraining``, ``weight_perturbation``, ``sent_debias``, ``inlp``)."""
    if isinstance(spec, DownstreamIntervention):
        return spec
    if not isinstance(spec, str):
        raise ValueError(f"an intervention is a name or a DownstreamIntervention, got {type(spec).__name__}")
    key = spec.strip().lower().replace("-", "_")
    if key in INTERVENTIONS:
        return INTERVENTIONS[key]()
    if key in ("sent_debias", "inlp"):
        from ..debias import INLP, SentDebias

        return UpstreamDebias(SentDebias() if key == "sent_debias" else INLP())
    raise ValueError(f"unknown intervention {spec!r}; known: {sorted(INTERVENTIONS) + ['inlp', 'sent_debias']}")
