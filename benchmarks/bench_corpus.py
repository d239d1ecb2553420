"""Throughput of corpus interventions on real English text (CHILDES + Wikipedia sample, ~3.7 MB).

    python benchmarks/bench_corpus.py [--repeat 4] [--shared ../shared/data]

Prints MB/s and words/s for CDA (two-sided, Zhao et al. gender pairs), the toxicity filter with
the word-list scorer and with alt-profanity-check, each with num_proc=1 and num_proc=2. The text
is the project's ``../shared/data/english_text_sample`` (not shipped: non-commercial licence).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import platform
import time
from pathlib import Path

import datasets

from babybias.corpus import CDA, ToxicityFilter, WordListScorer

datasets.disable_progress_bars()


def load_sample(shared: Path, repeat: int) -> datasets.Dataset:
    texts = []
    for name in ("childes_en_validation_random.csv.gz", "wikipedia_en_validation.csv.gz"):
        with gzip.open(shared / "english_text_sample" / name, "rt", encoding="utf-8") as f:
            texts += [r["text"] for r in csv.DictReader(io.StringIO(f.read())) if r["text"].strip()]
    return datasets.Dataset.from_dict({"text": texts * repeat})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=4, help="repeat the sample to get a few MB more")
    args = parser.parse_args()
    ds = load_sample(args.shared, args.repeat)
    mb = sum(len(t.encode()) for t in ds["text"]) / 1e6
    words = sum(len(t.split()) for t in ds["text"])
    print(f"machine: {platform.machine()}, {len(ds):,} units, {mb:.1f} MB, {words:,} words")
    steps = {"CDA two-sided": CDA(), "toxicity filter (word list)": ToxicityFilter(scorer=WordListScorer())}
    try:
        from babybias.corpus import ProfanityCheckScorer

        steps["toxicity filter (alt-profanity-check)"] = ToxicityFilter(scorer=ProfanityCheckScorer())
    except ImportError:
        print("alt-profanity-check not installed: skipping its filter")
    for name, step in steps.items():
        for num_proc in (None, 2):
            start = time.perf_counter()
            _, report = step.apply(ds, num_proc=num_proc)
            dt = time.perf_counter() - start
            print(f"{name:40s} num_proc={num_proc or 1}: {mb / dt:6.2f} MB/s  {words / dt:10,.0f} words/s  "
                  f"({dt:.1f} s; {report.units_changed or report.units_removed} units changed/removed)", flush=True)


if __name__ == "__main__":
    main()
