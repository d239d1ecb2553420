"""Experiments as objects: an intervention, its matched control, and the metric named before the results.

An :class:`Experiment` builds, for each training seed, the corpus of each of its conditions:

* ``baseline`` — the corpus as given;
* the intervention (``label``, e.g. ``cda``) — any :class:`~babybias.corpus.Intervention`, a
  :class:`~babybias.corpus.Pipeline`, or a factory ``f(seed=..., tokenizer=...)`` returning one;
* its matched control (``control_label``, e.g. ``duplication``) — built from what the intervention
  did, so that an effect cannot be the effect of merely having more (or less) text.

Presets (:data:`PRESETS`, :func:`get_experiment`) are the seed study's pre-model experiments
(Trhlik et al., arXiv 2601.09421) and CDS; ``get_experiment("module:object")`` imports a user's
intervention. Each preset names its **primary metric** here, in code, before any result exists
(docs/experiment.md lists them with the reasons).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
import re
import sys
from dataclasses import dataclass
from typing import Any, Callable

from ..corpus import (CDA, CDS, Intervention, PerturbationAugmentation, Pipeline, RandomDuplication, RandomRemoval,
                      Report, ToxicityFilter, WordListScorer)
from ..corpus.core import column_values, count_words
from ..helpers.registry import Registry

__all__ = ["SandboxError", "Experiment", "PRESETS", "get_experiment", "load_object", "matched_control", "GENERAL_METRICS", "AXIS_METRICS"]

#: shown for every experiment: headline bias, ability and the two sandbox composites.
GENERAL_METRICS = ("crows_pairs/overall", "stereoset/overall/ss", "stereoset/overall/lms", "winobias/gap",
                   "blimp/overall", "blimp_supplement/overall", "ewok/overall", "perplexity/perplexity", "composite_bias",
                   "composite_performance")
#: the items of one bias axis: an intervention on that axis is judged on these (axis → metric keys).
AXIS_METRICS: Registry[tuple[str, ...]] = Registry("bias axis", kind=tuple, entries={
    "gender": ("gender_log_odds/winobias/mean_log_odds", "gender_log_odds/templates/mean_log_odds",
               "gender_log_odds/winobias/male_share", "crows_pairs/gender", "stereoset/gender/ss", "winobias/gap"),
    "race": ("crows_pairs/race-color", "stereoset/race/ss"),
    "age": ("crows_pairs/age",),
    "religion": ("crows_pairs/religion", "stereoset/religion/ss"),
    "all": ("crows_pairs/overall", "stereoset/overall/ss"),
})
GENDER_PRIMARY = "gender_log_odds/winobias/mean_log_odds"


class SandboxError(ValueError):
    """A sandbox option, cell folder or intervention that cannot be used; the message says which and why."""


def _accepts(func: Callable, name: str) -> bool:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def with_seed_and_tokenizer(obj: Any, seed: int, tokenizer: Any) -> Any:
    """A copy of a dataclass intervention with its ``seed`` set and an unset ``tokenizer`` filled in."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return obj
    names = {f.name for f in dataclasses.fields(obj)}
    changes = {}
    if "seed" in names:
        changes["seed"] = seed
    if "tokenizer" in names and getattr(obj, "tokenizer") is None and tokenizer is not None:
        changes["tokenizer"] = tokenizer
    return dataclasses.replace(obj, **changes) if changes else obj


def _build(spec: Any, seed: int, tokenizer: Any, what: str) -> Any:
    """An intervention (or pipeline) from an instance, a class or a factory, for one seed."""
    if isinstance(spec, Pipeline):
        return Pipeline([with_seed_and_tokenizer(s, seed, tokenizer) for s in spec.steps])
    if isinstance(spec, Intervention) or (hasattr(spec, "apply") and not isinstance(spec, type)):
        return with_seed_and_tokenizer(spec, seed, tokenizer)
    if callable(spec):
        target = spec.__init__ if isinstance(spec, type) else spec
        kwargs = {k: v for k, v in (("seed", seed), ("tokenizer", tokenizer)) if _accepts(target, k)}
        made = spec(**kwargs)
        if not hasattr(made, "apply"):
            raise SandboxError(f"{what} {getattr(spec, '__name__', spec)!r} returned {type(made).__name__}, "
                               "not an intervention (an object with apply(corpus) -> (corpus, report))")
        return made
    raise SandboxError(f"{what} must be an Intervention, a Pipeline, an Intervention class or a factory; "
                       f"got {type(spec).__name__}")


def as_reports(reports: Any) -> list[Report]:
    """A single report or a pipeline's list of reports, as a list."""
    return list(reports) if isinstance(reports, (list, tuple)) else [reports]


def corpus_words(corpus) -> int:
    """Whitespace-separated words in a corpus's ``text`` column (the unit every report counts in)."""
    return int(sum(count_words(t) for t in column_values(corpus)))


def matched_control(baseline, condition, seed: int, tokenizer: Any = None, label: str = "intervention") -> Intervention:
    """The generic matched control of an intervention: random units, as many words as it added or removed net.

    Words are counted in the two corpora themselves (``words(condition) − words(baseline)``), so it
    works for any intervention or pipeline whatever its report says. More words: duplicate random
    units (:class:`RandomDuplication`); fewer: remove random units (:class:`RandomRemoval` with no
    protected units); the same within 1 %: no control is needed, which is an error here.
    """
    words_in, words_out = corpus_words(baseline), corpus_words(condition)
    net = words_out - words_in
    if abs(net) <= words_in // 100:
        raise SandboxError(f"{label} changes the corpus by {net:+d} words of {words_in} (under 1 %): it needs no "
                           "matched control; the baseline is its control (use control='none', CLI --control none)")
    if net > 0:
        return RandomDuplication(count=net, seed=seed, match="words", tokenizer=tokenizer)
    return RandomRemoval(scorer=None, target=-net, match="words", seed=seed, tokenizer=tokenizer)


@dataclass(frozen=True)
class Experiment:
    """One pre-model experiment: ``baseline`` vs ``label`` (the intervention) vs ``control_label`` (its control).

    ``intervention``: an Intervention (its ``seed`` is set per training seed and an unset
    ``tokenizer`` filled in, for token counts), a Pipeline, an Intervention class, or a factory
    taking ``seed=`` / ``tokenizer=``. ``control``: ``"auto"`` (:func:`matched_control`), ``None``
    (no control condition: the baseline is the control) or a factory ``f(report, seed=, tokenizer=)``
    given the intervention's report (a list for a pipeline). ``primary_metric`` is named up front;
    ``metrics`` are the secondary ones shown next to it (:data:`GENERAL_METRICS` are always added).
    """

    name: str
    intervention: Any
    label: str = "intervention"
    control: Any = "auto"
    control_label: str | None = "control"
    primary_metric: str = "composite_bias"
    metrics: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        for attr in ("name", "label"):
            value = getattr(self, attr)
            if not isinstance(value, str) or not value or "/" in value or value == "baseline":
                raise ValueError(f"Experiment {attr} must be a non-empty name without '/' other than 'baseline', "
                                 f"got {value!r}")
        if self.control is not None and self.control != "auto" and not callable(self.control):
            raise ValueError(f"Experiment control must be 'auto', None or a factory, got {self.control!r}")
        if self.control is not None and (not self.control_label or self.control_label in ("baseline", self.label)):
            raise ValueError(f"control_label must be a name other than 'baseline' and {self.label!r}, "
                             f"got {self.control_label!r}")
        if not isinstance(self.primary_metric, str) or not self.primary_metric:
            raise ValueError(f"primary_metric must be a metric name, got {self.primary_metric!r}")
        object.__setattr__(self, "metrics", tuple(self.metrics))

    @property
    def conditions(self) -> tuple[str, ...]:
        """The condition names, baseline first."""
        return ("baseline", self.label) + ((self.control_label,) if self.control is not None else ())

    def role(self, condition: str) -> str:
        """``baseline``, ``intervention`` or ``control``."""
        roles = {"baseline": "baseline", self.label: "intervention"}
        if self.control is not None:
            roles[self.control_label] = "control"
        if condition not in roles:
            raise ValueError(f"experiment {self.name!r} has no condition {condition!r}; its conditions: "
                             f"{list(self.conditions)}")
        return roles[condition]

    def make_intervention(self, seed: int, tokenizer: Any = None):
        return _build(self.intervention, seed, tokenizer, f"experiment {self.name!r} intervention")

    def apply_intervention(self, corpus, seed: int, tokenizer: Any = None):
        """``(corpus, [reports])`` of the intervention for one seed."""
        out, reports = self.make_intervention(seed, tokenizer).apply(corpus)
        return out, as_reports(reports)

    def make_control(self, corpus, intervened, reports: list[Report], seed: int, tokenizer: Any = None):
        """The control intervention for one seed, given the intervention's output and reports."""
        if self.control is None:
            raise ValueError(f"experiment {self.name!r} has no control condition")
        if self.control == "auto":
            return matched_control(corpus, intervened, seed, tokenizer, label=self.label)
        report = reports[0] if len(reports) == 1 else reports
        kwargs = {k: v for k, v in (("seed", seed), ("tokenizer", tokenizer)) if _accepts(self.control, k)}
        made = self.control(report, **kwargs)
        if not hasattr(made, "apply"):
            raise SandboxError(f"experiment {self.name!r}: control factory returned {type(made).__name__}, not an intervention")
        return made

    def describe(self) -> dict:
        """Plain data saved with every cell (what ran, named before the results)."""
        return {"name": self.name, "label": self.label, "control_label": self.control_label if self.control is not None else None,
                "conditions": list(self.conditions), "primary_metric": self.primary_metric, "metrics": list(self.metrics),
                "intervention": _describe(self.intervention), "control": _describe(self.control),
                "description": self.description}

    def replace(self, **changes) -> "Experiment":
        return dataclasses.replace(self, **changes)


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _short(text: str) -> str:
    """``text`` without memory addresses; past 120 characters, its head and a hash of the whole."""
    text = _ADDRESS.sub("", text)
    if len(text) > 120:
        text = f"{text[:60]}... (sha256 {hashlib.sha256(text.encode()).hexdigest()[:12]})"
    return text


def _stable(value: Any, depth: int = 0) -> Any:
    """A parameter as plain data that is the same in every process and differs when the parameter does.

    Functions and classes by qualified name; models, pipelines and tokenizers by ``name_or_path``;
    other objects by class and (two levels deep) their attributes, private ones included (a word
    list scorer keeps its list in ``_pattern``); long values hashed; memory addresses dropped.
    """
    if isinstance(value, (int, float, bool, type(None))):
        return value
    if isinstance(value, str):
        return _short(value)
    if isinstance(value, re.Pattern):
        return _short(f"re.compile({value.pattern!r}, {int(value.flags)})")
    if isinstance(value, functools.partial):
        return {"partial": _stable(value.func, depth), "args": _stable(value.args, depth + 1),
                "keywords": _stable(value.keywords, depth + 1)}
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        if isinstance(value, dict):
            items: Any = {str(k): _stable(v, depth + 1) for k, v in value.items()}
        else:
            items = [_stable(v, depth + 1) for v in value]
            if isinstance(value, (set, frozenset)):
                items = sorted(items, key=repr)
        text = json.dumps(items, sort_keys=True, default=str)
        return _short(text) if len(text) > 120 else items
    if isinstance(value, type) or inspect.isroutine(value):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', repr(value))}"
    cls = f"{type(value).__module__}.{type(value).__qualname__}"
    name = getattr(value, "name_or_path", None) or getattr(getattr(value, "model", None), "name_or_path", None)
    if name:
        return {"class": cls, "name_or_path": str(name)}
    if depth < 2 and hasattr(value, "__dict__"):
        return {"class": cls, "attributes": {k: _stable(v, depth + 1) for k, v in sorted(vars(value).items())}}
    return _short(repr(value))


def _describe(obj: Any) -> Any:
    """What an intervention or control is, as plain, process-independent data (saved with every cell)."""
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, Pipeline):
        return {"pipeline": [_describe(step) for step in obj.steps]}
    if hasattr(obj, "apply") and not isinstance(obj, type):
        return {"class": f"{type(obj).__module__}.{type(obj).__qualname__}",
                "params": {k: _stable(v, 1) for k, v in sorted(vars(obj).items())}}
    return _stable(obj)


# ------------------------------------------------------------------------------------------ presets


def duplicate_words(report: Report, seed: int = 0, tokenizer: Any = None) -> RandomDuplication:
    """Control of an augmentation: random unchanged units holding as many words as ``report`` added."""
    return RandomDuplication(report, seed=seed, match="words", tokenizer=tokenizer)


def remove_unflagged_words(report: Report, seed: int = 0, tokenizer: Any = None) -> RandomRemoval:
    """Control of the toxicity filter: remove random units the word list does not flag, as many words as it removed."""
    return RandomRemoval(scorer=WordListScorer(), target=report, match="words", seed=seed, tokenizer=tokenizer)


def _cda(**_: Any) -> Experiment:
    return Experiment(
        "cda", CDA(two_sided=True), label="cda",
        control=duplicate_words, control_label="duplication", primary_metric=GENDER_PRIMARY, metrics=AXIS_METRICS["gender"],
        description="two-sided CDA with the shipped Zhao et al. 2018 gender pairs vs appending random unchanged "
                    "units holding as many words as CDA added (seed study, pre-model experiment 1)")


def _cds(**_: Any) -> Experiment:
    return Experiment(
        "cds", CDS(p=0.5), label="cds", control=None, control_label=None, primary_metric=GENDER_PRIMARY,
        metrics=AXIS_METRICS["gender"],
        description="counterfactual data substitution (Maudslay et al. 2019, p = 0.5): rewrites in place and keeps "
                    "the corpus size, so the baseline is its control")


def _toxicity(**_: Any) -> Experiment:
    return Experiment(
        "toxicity", ToxicityFilter(scorer=WordListScorer()), label="toxicity_filter",
        control=remove_unflagged_words, control_label="random_removal", primary_metric="crows_pairs/overall", metrics=AXIS_METRICS["all"],
        description="remove units containing an LDNOOBW word vs removing random non-flagged units holding as many "
                    "words (seed study, pre-model experiment 2; its seed code scores with Detoxify, which needs "
                    "the hub: pass your own ToxicityFilter(scorer=TransformersScorer(...)) as a custom intervention)")


def _perturbation(axis: str = "gender", **_: Any) -> Experiment:
    if axis not in ("gender", "race", "age"):
        raise ValueError(f"perturbation axis must be gender, race or age, got {axis!r}")
    primary = {"gender": GENDER_PRIMARY, "race": "crows_pairs/race-color", "age": "crows_pairs/age"}[axis]
    return Experiment(
        "perturbation" if axis == "gender" else f"perturbation_{axis}", PerturbationAugmentation(axis=axis, mode="augment"),
        label="perturbation",
        control=duplicate_words, control_label="duplication", primary_metric=primary, metrics=AXIS_METRICS[axis],
        description=f"perturbation augmentation on {axis} (word-list perturber, one random demographic term per unit "
                    "rewritten to another group, the rewrite added) vs random duplication of as many words "
                    "(seed study, pre-model experiment 3)")


#: preset name → factory of its :class:`Experiment` (keyword options: ``axis`` for perturbation); a helpers.Registry:
#: ``PRESETS.register(factory, name)`` adds one.
PRESETS: Registry[Callable[..., Experiment]] = Registry("experiment preset", entries={
    "cda": _cda, "cds": _cds, "toxicity": _toxicity, "perturbation": _perturbation})


def load_object(spec: str, what: str = "intervention") -> Any:
    """The object named ``module:attribute`` (or ``path/to/file.py:attribute``); SandboxError naming what is wrong."""
    from ..helpers.imports import UserImportError, import_user_code

    module_name, sep, attr = spec.rpartition(":") if spec.count(":") > 1 else spec.partition(":")
    if not sep or not module_name or not attr:
        raise SandboxError(f"{what} {spec!r} must be written module:object (e.g. mypkg.interventions:MyCDA) "
                           f"or path/to/file.py:object")
    try:
        obj = import_user_code(module_name, what)
    except UserImportError as err:
        raise SandboxError(f"{what} {spec!r}: {err}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise SandboxError(f"{what} {spec!r}: {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def get_experiment(name: str | Experiment, *, control: Any = "default", primary_metric: str | None = None,
                   **options: Any) -> Experiment:
    """A preset (``cda``, ``cds``, ``toxicity``, ``perturbation``), an :class:`Experiment`, or ``module:object``.

    ``module:object`` may name an Experiment, an Intervention (instance or class), a Pipeline or a
    factory; a non-Experiment becomes ``Experiment(<object name>, obj)`` with the ``auto`` control.
    ``control``: ``"default"`` (keep), ``"auto"``, ``"none"``/None, ``module:object`` or a factory.
    ``primary_metric`` replaces the experiment's (say so before looking at results).
    """
    if isinstance(name, Experiment):
        exp = name
    elif isinstance(name, str) and name in PRESETS:
        exp = PRESETS[name](**options)
    elif isinstance(name, str) and ":" in name:
        obj = load_object(name, "intervention")
        if isinstance(obj, Experiment):
            exp = obj
        elif not (hasattr(obj, "apply") or callable(obj)) or isinstance(obj, type(sys)):
            raise SandboxError(f"intervention {name!r} is a {type(obj).__name__}, not an Intervention, Pipeline, "
                               "Intervention class or factory")
        else:
            label = name.rpartition(":")[2].split(".")[-1].lower()
            label = "".join(c if c.isalnum() or c in "_-" else "_" for c in label) or "intervention"
            exp = Experiment(label if label != "baseline" else "intervention", obj, label=label if label != "baseline" else "intervention")
    else:
        raise SandboxError(f"experiment must be one of {sorted(PRESETS)} or module:object, got {name!r}")
    if control != "default":
        if control in (None, "none"):
            exp = exp.replace(control=None, control_label=None)
        else:
            factory = load_object(control, "control") if isinstance(control, str) and control != "auto" else control
            exp = exp.replace(control=factory, control_label=exp.control_label or "control")
    if primary_metric is not None:
        exp = exp.replace(primary_metric=primary_metric)
    return exp
