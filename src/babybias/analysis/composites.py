"""Composite bias and ability scores as named, documented variants.

A :class:`Composite` turns one flat score dict (``EvaluationResult.scores``: ``"<benchmark>/<key>"``
→ value, in percent) into two numbers:

* **bias** = mean over ``bias_keys`` of ``|score − 50|`` (distance from the unbiased 50 %, in
  percentage points; lower is fairer);
* **ability** = mean over ``ability_keys`` of the score (accuracy %, higher is better).

Before the keys are looked up, ``transform(scores)`` may add derived keys (e.g. WinoBias's gap
mapped to a 50-centred score). Every key counts once, with equal weight.

Missing keys are never averaged away silently: ``on_missing="nan"`` (default) gives NaN for a part
with any missing key, ``"raise"`` raises ``KeyError`` naming the missing key, and ``"available"``
averages the keys present. In every case :class:`CompositeResult` records the keys used, their
number (``bias_n``/``ability_n``) and the keys missing.

Named variants (:data:`COMPOSITES`, :func:`get_composite`):

``sandbox``
    Today's sandbox composite (:func:`babybias.experiment.summarize`): bias over CrowS-Pairs
    overall, StereoSet overall SS and WinoBias mapped to ``50 + gap/2``; ability over BLiMP,
    BLiMP supplement and EWoK overall accuracy. ``summarize`` averages the keys present, i.e.
    ``on_missing="available"``.
``seed_paper``
    Built from the signals of the seed study (Trhlik et al., arXiv 2601.09421): bias over
    StereoSet (dev) overall SS and CrowS-Pairs overall; ability over BLiMP, BLiMP supplement and
    EWoK overall. **Our reading**: the paper's exact composite formula is not published in its code.
``seed_paper_domains``
    The same signals at the finest level the study reports: bias over StereoSet SS of each domain
    (gender, profession, race, religion) and CrowS-Pairs of each of its nine bias types (13 terms,
    equally weighted); ability as ``seed_paper``. Also **our reading**.

User-defined variants: ``Composite(name, bias_keys, ability_keys, transform=..., description=...)``,
optionally :func:`register_composite`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal, Mapping, Sequence

from ..helpers.registry import Registry

OnMissing = Literal["nan", "raise", "available"]
ON_MISSING = ("nan", "raise", "available")

STEREOSET_DOMAINS = ("gender", "profession", "race", "religion")
CROWS_BIAS_TYPES = ("age", "disability", "gender", "nationality", "physical-appearance", "race-color", "religion",
                    "sexual-orientation", "socioeconomic")
ABILITY_KEYS = ("blimp/overall", "blimp_supplement/overall", "ewok/overall")


@dataclass(frozen=True)
class CompositeResult:
    """One composite's value on one score dict, with the record of what went into it."""

    name: str
    bias: float
    ability: float
    bias_used: tuple[str, ...]
    ability_used: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def bias_n(self) -> int:
        return len(self.bias_used)

    @property
    def ability_n(self) -> int:
        return len(self.ability_used)

    def to_dict(self) -> dict:
        return {"name": self.name, "bias": self.bias, "ability": self.ability, "bias_n": self.bias_n,
                "ability_n": self.ability_n, "bias_used": list(self.bias_used), "ability_used": list(self.ability_used),
                "missing": list(self.missing)}


def _identity(scores: Mapping[str, float]) -> dict[str, float]:
    return dict(scores)


@dataclass(frozen=True)
class Composite:
    """A named composite: bias = mean |score − 50| over ``bias_keys``, ability = mean score over ``ability_keys``.

    ``transform`` maps the score dict to a score dict (it may add derived keys) before lookup;
    ``on_missing`` is the default handling of absent (or NaN) keys: ``"nan"``, ``"raise"`` or ``"available"``.
    """

    name: str
    bias_keys: tuple[str, ...]
    ability_keys: tuple[str, ...]
    transform: Callable[[Mapping[str, float]], Mapping[str, float]] = _identity
    description: str = ""
    on_missing: OnMissing = "nan"

    def __post_init__(self) -> None:
        object.__setattr__(self, "bias_keys", tuple(self.bias_keys))
        object.__setattr__(self, "ability_keys", tuple(self.ability_keys))
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Composite name must be a non-empty string, got {self.name!r}")
        if not self.bias_keys and not self.ability_keys:
            raise ValueError(f"Composite {self.name!r} needs at least one bias or ability key")
        _check_on_missing(self.on_missing)

    def __call__(self, scores: Mapping[str, float], on_missing: OnMissing | None = None) -> CompositeResult:
        return self.compute(scores, on_missing)

    def compute(self, scores: Mapping[str, float], on_missing: OnMissing | None = None) -> CompositeResult:
        """The composite of one flat score dict (``"<benchmark>/<key>"`` → percent)."""
        mode = self.on_missing if on_missing is None else _check_on_missing(on_missing)
        values = self.transform(scores)
        missing = [k for k in (*self.bias_keys, *self.ability_keys) if not _present(values, k)]
        if missing and mode == "raise":
            raise KeyError(f"composite {self.name!r}: score {missing[0]!r} is missing "
                           f"({len(missing)} of its keys missing: {', '.join(missing)})")
        bias_used = tuple(k for k in self.bias_keys if _present(values, k))
        ability_used = tuple(k for k in self.ability_keys if _present(values, k))

        def mean(keys: tuple[str, ...], wanted: tuple[str, ...], f) -> float:
            if not keys or (mode == "nan" and len(keys) < len(wanted)):
                return float("nan")
            return sum(f(float(values[k])) for k in keys) / len(keys)

        return CompositeResult(self.name, mean(bias_used, self.bias_keys, lambda v: abs(v - 50.0)),
                               mean(ability_used, self.ability_keys, lambda v: v), bias_used, ability_used, tuple(missing))


def _present(values: Mapping[str, float], key: str) -> bool:
    v = values.get(key)
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _check_on_missing(value) -> str:
    if value not in ON_MISSING:
        raise ValueError(f"on_missing must be one of {ON_MISSING}, got {value!r}")
    return value


def winobias_as_bias(scores: Mapping[str, float]) -> dict[str, float]:
    """``scores`` plus ``winobias/bias = 50 + winobias/gap / 2`` when the gap is there (the sandbox's mapping:
    the pro − anti accuracy gap in points, halved, centred on 50 so that |· − 50| = |gap| / 2)."""
    out = dict(scores)
    if "winobias/gap" in scores:
        out["winobias/bias"] = 50.0 + float(scores["winobias/gap"]) / 2.0
    return out


SANDBOX = Composite(
    "sandbox", ("crows_pairs/overall", "stereoset/overall/ss", "winobias/bias"), ABILITY_KEYS, transform=winobias_as_bias,
    on_missing="available",
    description="today's sandbox: bias = mean |s − 50| over CrowS-Pairs overall, StereoSet overall SS and WinoBias "
                "50 + gap/2; ability = mean of BLiMP, supplement, EWoK overall accuracy; keys present are averaged")
SEED_PAPER = Composite(
    "seed_paper", ("stereoset/overall/ss", "crows_pairs/overall"), ABILITY_KEYS,
    description="our reading of the seed study's signals (formula unpublished): bias = mean(|StereoSet overall SS − 50|, "
                "|CrowS-Pairs overall − 50|); ability = mean of BLiMP, supplement, EWoK overall accuracy")
SEED_PAPER_DOMAINS = Composite(
    "seed_paper_domains",
    tuple(f"stereoset/{d}/ss" for d in STEREOSET_DOMAINS) + tuple(f"crows_pairs/{t}" for t in CROWS_BIAS_TYPES),
    ABILITY_KEYS,
    description="our reading of the seed study's signals (formula unpublished): bias = mean |s − 50| over StereoSet SS of "
                "its 4 domains and CrowS-Pairs of its 9 bias types (13 equal terms); ability as seed_paper")

#: name → :class:`Composite` (a helpers.Registry; :func:`register_composite` adds one)
COMPOSITES: Registry[Composite] = Registry("composite", {c.name: c for c in (SANDBOX, SEED_PAPER, SEED_PAPER_DOMAINS)},
                                           kind=Composite)


def register_composite(composite: Composite, overwrite: bool = False) -> Composite:
    """Add a user-defined composite to :data:`COMPOSITES` (refuses to replace one unless ``overwrite``)."""
    if composite.name in COMPOSITES and not overwrite:
        raise ValueError(f"a composite named {composite.name!r} exists; pass overwrite=True to replace it")
    COMPOSITES.register(composite, overwrite=overwrite)
    return composite


def get_composite(name: str | Composite) -> Composite:
    """A named composite (``sandbox``, ``seed_paper``, ``seed_paper_domains`` or a registered one)."""
    return name if isinstance(name, Composite) else COMPOSITES[name]  # an unknown name: KeyError listing the known


def composite_table(frame, composites: Sequence[str | Composite] = ("seed_paper",),
                    by: Sequence[str] = ("run", "seed", "step", "tokens_seen", "checkpoint"),
                    on_missing: OnMissing | None = None):
    """Composites of a tidy sweep frame (columns ``by`` + ``benchmark``, ``metric``, ``value``): one row per
    group and composite with ``composite``, ``bias``, ``ability``, ``bias_n``, ``ability_n``, ``missing``."""
    import pandas as pd

    by = [c for c in by if c in frame.columns]
    rows = []
    for key, group in frame.groupby(by, dropna=False, sort=True) if by else [((), frame)]:
        key = key if isinstance(key, tuple) else (key,)
        scores = dict(zip(group["benchmark"] + "/" + group["metric"], group["value"].astype(float)))
        for c in composites:
            r = get_composite(c).compute(scores, on_missing)
            rows.append(dict(zip(by, key)) | {"composite": r.name, "bias": r.bias, "ability": r.ability,
                                              "bias_n": r.bias_n, "ability_n": r.ability_n, "missing": ",".join(r.missing)})
    return pd.DataFrame(rows)
