"""The sandbox experiment: baseline vs. a corpus intervention vs. its control, trained and measured.

``run(SandboxConfig())`` takes a corpus (default: the Wikipedia sample shipped with babybias,
CC BY-SA), builds one corpus per condition — ``baseline``, ``cda`` (two-sided CDA with the
shipped gender pairs) and ``duplication`` (as many random duplicates as CDA added) — trains one
model per condition with a recipe (default ``tiny``, minutes on a CPU), evaluates bias
(CrowS-Pairs, StereoSet, WinoBias) and ability (BLiMP; the supplement and EWoK when their paths
are given), and writes a comparison table (``results.json``, ``table.csv``, ``comparison.png``).

Composite bias = mean distance from the unbiased 50 of the bias scores (CrowS-Pairs overall,
StereoSet overall SS, and WinoBias mapped to 50 + gap/2); composite performance = mean accuracy
of the ability benchmarks. Re-running skips conditions whose training finished and resumes
unfinished ones from their checkpoints.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Sequence

import datasets
import pandas as pd

from ._paths import looks_local, require_local
from .analysis.composites import SANDBOX
from .corpus import CDA, RandomDuplication, load_corpus
from .evaluate import BLiMP, BlimpSupplement, CrowsPairs, EWoK, StereoSet, WinoBias, evaluate
from .evaluate.registry import check_limit
from .evaluate.loaders import is_hub
from .evaluate.results import atomic_write_text
from .models import train_tokenizer
from .train import RECIPES, get_recipe, train

CONDITIONS = ("baseline", "cda", "duplication")
BIAS_KEYS = SANDBOX.bias_keys
ABILITY_KEYS = SANDBOX.ability_keys


@dataclass
class SandboxConfig:
    """Options of :func:`run`; the defaults are the CPU sandbox of the README."""

    recipe: str = "tiny"
    corpus: str | None = None
    output_dir: str = "sandbox_results"
    conditions: Sequence[str] = CONDITIONS
    steps: int | None = None                # None: the recipe's own; else >= 1
    vocab_size: int = 2000
    lowercase: bool | None = None           # None: lower-case iff the corpus is the shipped (lower-cased) sample
    seed: int = 0
    blimp_limit: int | None = 100           # BLiMP (BabyLM-filtered) pairs per paradigm; None = all
    bias_limit: int | None = None           # bias benchmarks: items each (None = all; for quick checks)
    supplement: str | None = None
    ewok: str | None = None
    ewok_password: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        """Check every option up front, so a typo fails at once rather than after hours of training."""
        unknown = set(self.conditions) - set(CONDITIONS)
        if unknown or not self.conditions:
            raise ValueError(f"conditions must be among {CONDITIONS}, got {list(self.conditions)}")
        if "duplication" in self.conditions and "cda" not in self.conditions:
            raise ValueError("the duplication control matches CDA's additions: include 'cda' too")
        if self.recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {sorted(RECIPES)}, got {self.recipe!r}")
        check_limit(self.steps, "steps", "the recipe's own number")
        check_limit(self.blimp_limit, "blimp_limit")
        check_limit(self.bias_limit, "bias_limit")
        if isinstance(self.vocab_size, bool) or not isinstance(self.vocab_size, int) or self.vocab_size < 1:
            raise ValueError(f"vocab_size must be an integer >= 1, got {self.vocab_size!r}")
        if self.corpus is not None and looks_local(self.corpus):
            require_local(self.corpus, "corpus file or folder")
        for option in ("supplement", "ewok"):
            value = getattr(self, option)
            if value is not None and not is_hub(value):
                require_local(value, f"{option} path")


def shipped_corpus() -> datasets.Dataset:
    """The sandbox's default corpus: 16,316 lower-cased English Wikipedia sentences (CC BY-SA)."""
    path = Path(str(resources.files("babybias") / "data" / "wikipedia_sample.txt.gz"))
    lines = [l for l in gzip.decompress(path.read_bytes()).decode("utf-8").splitlines() if l.strip()]
    return datasets.Dataset.from_dict({"text": lines})


def build_conditions(corpus: datasets.Dataset, conditions: Sequence[str], seed: int, tokenizer=None) -> tuple[dict, dict]:
    """The corpus of each condition and the intervention reports.

    The duplication control adds as many *words* as CDA added (within 1 %; its report's
    ``notes["words_target"]``/``["words_error"]`` say how close); with a ``tokenizer`` both reports
    also count the tokens added.
    """
    corpora, reports = {}, {}
    if "baseline" in conditions:
        corpora["baseline"] = corpus
    if "cda" in conditions:
        corpora["cda"], reports["cda"] = CDA(two_sided=True, tokenizer=tokenizer).apply(corpus)
    if "duplication" in conditions:
        control = RandomDuplication(reports["cda"], seed=seed, match="words", tokenizer=tokenizer)
        corpora["duplication"], reports["duplication"] = control.apply(corpus)
    return corpora, reports


def summarize(scores: dict[str, float]) -> dict[str, float]:
    """The table row of one condition: headline scores and the ``sandbox`` composite (babybias.analysis.composites)."""
    row = {k: scores[k] for k in ("crows_pairs/overall", "stereoset/overall/ss", "stereoset/overall/lms", "winobias/gap")
           if k in scores}
    if "winobias/gap" in scores:
        row["winobias/bias"] = 50.0 + scores["winobias/gap"] / 2.0
    row.update({k: scores[k] for k in ABILITY_KEYS if k in scores})
    composite = SANDBOX(scores)
    row["composite_bias"] = composite.bias
    row["composite_performance"] = composite.ability
    return row


def _benchmarks(config: SandboxConfig) -> list:
    benches = [CrowsPairs(), StereoSet(), WinoBias(), BLiMP(name="blimp", subset="babylm_filtered")]
    if config.supplement:
        benches.append(BlimpSupplement(source=config.supplement))
    if config.ewok:
        benches.append(EWoK(source=config.ewok, password=config.ewok_password))
    return benches


def _evaluate_all(model, tokenizer, config: SandboxConfig) -> dict[str, float]:
    """Bias benchmarks on everything; the ability benchmarks capped at ``blimp_limit`` per group."""
    benches = _benchmarks(config)
    bias = evaluate(model, tokenizer, benches[:3], limit=config.bias_limit, progress=False).scores
    ability = evaluate(model, tokenizer, benches[3:], limit=config.blimp_limit, progress=False).scores
    return bias | ability


def sandbox_recipe(config: SandboxConfig):
    """The training recipe of ``config``: ``config.steps`` (when given) replaces the recipe's steps or epochs."""
    steps = {} if config.steps is None else {"steps": config.steps, "epochs": None}
    return get_recipe(config.recipe, seed=config.seed, **steps)


def run(config: SandboxConfig = SandboxConfig()) -> pd.DataFrame:
    """Run the sandbox; returns the comparison table (one row per condition) and writes it out."""
    corpus = shipped_corpus() if config.corpus is None else load_corpus(config.corpus)
    lowercase = (config.corpus is None) if config.lowercase is None else config.lowercase
    recipe = sandbox_recipe(config)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    kind = "bpe" if recipe.model_type == "gpt-bert" else "wordpiece"
    tokenizer = train_tokenizer(corpus["text"], vocab_size=config.vocab_size, kind=kind, min_frequency=2, lowercase=lowercase)
    corpora, reports = build_conditions(corpus, config.conditions, config.seed, tokenizer)
    rows, details = {}, {}
    for name, condition_corpus in corpora.items():
        result = train(recipe, condition_corpus, tokenizer, out / name, progress=config.progress)
        scores = _evaluate_all(result.model, tokenizer, config)
        rows[name] = summarize(scores)
        details[name] = {"scores": scores, "train_steps": result.steps, "final_loss": result.final_loss,
                         "units": len(condition_corpus), "report": reports[name].to_dict() if name in reports else None}
        print(f"{name}: loss {result.final_loss:.3f}, BLiMP {scores.get('blimp/overall', float('nan')):.1f}, "
              f"composite bias {rows[name]['composite_bias']:.2f}", flush=True)
    table = pd.DataFrame(rows).T
    table.index.name = "condition"
    atomic_write_text(out / "results.json", json.dumps({"config": dataclasses.asdict(config) | {"conditions": list(config.conditions)},
                                                        "recipe": recipe.to_dict(), "table": table.reset_index().to_dict("records"),
                                                        "details": details}, indent=1, default=str))
    atomic_write_text(out / "table.csv", table.to_csv())
    plot_comparison(table, out / "comparison.png")
    return table


def plot_comparison(table: pd.DataFrame, path: str | Path) -> Path:
    """Bar charts of composite bias and composite performance per condition."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, key, label in zip(axes, ("composite_bias", "composite_performance"),
                              ("composite bias (|score − 50|, lower is fairer)", "composite performance (accuracy %)")):
        ax.bar(table.index, table[key], color=["#4c72b0", "#dd8452", "#55a868"][: len(table)])
        ax.set_title(label, fontsize=9)
        if key == "composite_performance" and table[key].notna().any():
            ax.axhline(50, color="grey", lw=0.8, ls="--")  # chance on two-way choices
            ax.set_ylim(40, max(60.0, float(table[key].max()) + 5))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
