"""SEAT and perplexity on the sandbox's baseline and CDA models, and perplexity after INLP (issue 22).

    python benchmarks/bench_seat_perplexity.py --sandbox /tmp/sbx --seat ../shared/data/seat \\
        --text ../shared/data/wikitext2 --out seat_perplexity.json

Models: the finished ``baseline`` and ``cda`` cells of a default ``babybias sandbox`` run (one model per training
seed). Each is scored on bias-bench's 17 SEAT tests (``n_samples`` 100,000) and on WikiText-2's test text
(``--text``: the shared reconstruction) with the sandbox's windows (its recipe's sequence length, nothing
reserved; one window = one item). Primary metrics, named before the run: ``seat/gender/mean_abs_effect_size``
for CDA (a gender intervention) and ``perplexity/perplexity`` for the INLP comparison.

Effects (cda − baseline; INLP − undebiased) carry two 95 % intervals, as in the sandbox: over seeds (a paired
t interval, n = seeds) and over items (a paired percentile bootstrap that resamples sentences within each SEAT
set, or perplexity windows, and recomputes the score). INLP is fitted on the shipped Wikipedia sample with
bias-bench's recipe, at its 80 iterations and with ``stop_at=0.01``.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import time
from pathlib import Path

import numpy as np
import torch

SEAT_METRICS = ("seat/gender/mean_abs_effect_size", "seat/race/mean_abs_effect_size",
                "seat/religion/mean_abs_effect_size", "seat/sent-weat6/effect_size", "seat/sent-weat7/effect_size",
                "seat/sent-weat8/effect_size")
PPL = "perplexity/perplexity"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def load_cells(sandbox: Path, condition: str, seeds) -> dict[int, tuple]:
    from babybias.models import load_lm, load_tokenizer

    out = {}
    for final in sorted(sandbox.glob(f"cells/{condition}/seed-*/train/final")):
        seed = int(final.parent.parent.name.removeprefix("seed-"))
        if seeds is None or seed in seeds:
            out[seed] = (load_lm(final).eval(), load_tokenizer(final))
    if not out:
        raise SystemExit(f"{sandbox}: no finished {condition} cell")
    return out


def score(model, tokenizer, args, with_seat: bool = True):
    """The evaluation (SEAT and perplexity) of one model."""
    from babybias.evaluate import SEAT, evaluate
    from babybias.evaluate.perplexity import Perplexity
    from babybias.train import get_recipe

    benches = [Perplexity(source=args.text, context=get_recipe("sandbox").seq_length, reserve=0)]
    if with_seat:
        benches.insert(0, SEAT(source=args.seat))
    start = time.perf_counter()
    result = evaluate(model, tokenizer, benches, progress=False)
    log(f"  scored in {time.perf_counter() - start:.0f} s: perplexity {result.scores[PPL]:.2f}"
        + (f", SEAT gender {result.scores['seat/gender/mean_abs_effect_size']:.3f}" if with_seat else ""))
    return result


def effects(reference: dict, condition: dict, metrics, name: str, args) -> dict:
    from babybias.experiment import estimate_effect, item_data

    out = {}
    ref_data = {s: item_data(r, metrics) for s, r in reference.items()}  # once per cell: every resample is
    con_data = {s: item_data(r, metrics) for s, r in condition.items()}  # aggregated once for all its metrics
    for m in metrics:
        ref_items = {s: d.get(m) for s, d in ref_data.items()}
        con_items = {s: d.get(m) for s, d in con_data.items()}
        have = all(v is not None for v in [*ref_items.values(), *con_items.values()])
        out[m] = estimate_effect({s: r.scores[m] for s, r in reference.items()},
                                 {s: r.scores[m] for s, r in condition.items()},
                                 baseline_items=ref_items if have else None, condition_items=con_items if have else None,
                                 name=name, metric=m, reference="reference", n_resamples=args.n_resamples)
    return out


def fmt(x: float) -> str:
    return "nan" if not math.isfinite(x) else f"{x:+.3f}" if abs(x) < 10 else f"{x:+.1f}"


def table(title: str, reference: dict, condition: dict, found: dict) -> str:
    lines = [f"### {title} (n = {len(reference)} seeds)", "",
             "| metric | reference | condition | effect | 95 % CI over seeds | 95 % CI over items (n) | verdict |",
             "|---|---:|---:|---:|---|---|---|"]
    for m, e in found.items():
        a = np.mean([r.scores[m] for r in reference.values()])
        b = np.mean([r.scores[m] for r in condition.values()])
        items = f"[{fmt(e.items.low)}, {fmt(e.items.high)}] ({e.items.n})" if e.items is not None else "—"
        verdict = "distinguishable" if e.distinguishable else "not distinguishable"
        lines.append(f"| {m} | {a:.3f} | {b:.3f} | {fmt(e.estimate)} | [{fmt(e.seeds.low)}, {fmt(e.seeds.high)}] "
                     f"| {items} | {verdict} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sandbox", default="sandbox_results")
    p.add_argument("--seat", required=True, help="folder of the SEAT test files")
    p.add_argument("--text", required=True, help="perplexity text: a file or a folder holding wiki.test.raw(.gz)")
    p.add_argument("--out", default="seat_perplexity.json")
    p.add_argument("--seeds", type=int, nargs="*", default=None)
    p.add_argument("--no-inlp", action="store_true", help="skip the INLP comparison")
    p.add_argument("--n-resamples", type=int, default=1999)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    sandbox = Path(args.sandbox)
    report: dict = {"command": " ".join(__import__("sys").argv), "machine": platform.processor() or platform.machine(),
                    "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")}
    results, markdown = {}, []
    for condition in ("baseline", "cda"):
        results[condition] = {}
        for seed, (model, tok) in load_cells(sandbox, condition, args.seeds).items():
            log(f"{condition}, seed {seed}")
            results[condition][seed] = score(model, tok, args)
    metrics = [*SEAT_METRICS, PPL]
    cda = effects(results["baseline"], results["cda"], metrics, "cda", args)
    markdown.append(table("CDA − baseline", results["baseline"], results["cda"], cda))
    report["cda"] = {m: e.to_dict() for m, e in cda.items()}
    report["scores"] = {c: {s: r.scores for s, r in rs.items()} for c, rs in results.items()}
    if not args.no_inlp:
        from babybias.corpus import wikipedia_sample
        from babybias.debias import INLP

        corpus = wikipedia_sample()
        models = load_cells(sandbox, "baseline", args.seeds)
        for label, spec in (("INLP, 80 iterations", INLP(n_iterations=80)), ("INLP, stop_at=0.01", INLP(stop_at=0.01))):
            after, fits = {}, {}
            for seed, (model, tok) in models.items():
                log(f"{label}, seed {seed}")
                start = time.perf_counter()
                fitted = copy.deepcopy(spec).fit(model, tok, corpus)  # seeded and deterministic, as in the example
                log(f"  fitted in {time.perf_counter() - start:.0f} s")
                after[seed] = score(fitted.apply(model), tok, args)
                fits[seed] = {k: v for k, v in getattr(fitted, "fit_stats_", {}).items() if isinstance(v, (int, float))}
            found = effects(results["baseline"], after, metrics, label, args)
            markdown.append(table(f"{label} − undebiased", results["baseline"], after, found))
            report[label] = {"effects": {m: e.to_dict() for m, e in found.items()}, "fit": fits,
                             "scores": {s: r.scores for s, r in after.items()}}
    report["markdown"] = "\n\n".join(markdown)
    Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    print(report["markdown"])


if __name__ == "__main__":
    main()
