"""Each corpus intervention and its report on a small sample corpus.

    python examples/corpus_interventions.py [path/to/corpus.txt]

Without an argument it uses a few sentences written here; with a path it reads that text file
(one unit per line) or folder of .txt files.
"""

from __future__ import annotations

import argparse

import datasets

from babybias.corpus import (CDA, CDS, PerturbationAugmentation, Pipeline, RandomDuplication, RandomRemoval, ToxicityFilter,
                             WordListScorer, WordPairs, load_corpus)

datasets.disable_progress_bars()

SAMPLE = [
    "The doctor said he would call her mother tomorrow.",
    "My grandmother gave the young boy her old bicycle.",
    "The Asian engineer and the Black nurse are friends.",
    "That stupid shit again? Stop it.",
    "The weather was lovely, and the children played outside.",
    "His sister is a waitress; their father is a fireman.",
    "An elderly man waited for the bus.",
    "She is the queen of the kitchen.",
]


def show(title: str, corpus, report) -> None:
    print(f"\n== {title}\n{report}")
    for text in corpus["text"][:10]:
        print("   ", text)


def main() -> None:
    parser = argparse.ArgumentParser(description="Each corpus intervention and its report on a small sample corpus.")
    parser.add_argument("corpus", nargs="?", help="a text file (one unit per line) or folder of .txt files; "
                                                  "default: the eight sentences in this script")
    args = parser.parse_args()
    try:
        corpus = load_corpus(args.corpus) if args.corpus else datasets.Dataset.from_dict({"text": SAMPLE})
    except (OSError, ValueError) as err:  # a missing or unreadable corpus: one line, not a traceback
        parser.error(str(err))
    two, report = CDA(two_sided=True).apply(corpus)
    show("CDA, two-sided (original + counterfactual)", two, report)
    show("CDA, one-sided (replace)", *CDA(two_sided=False).apply(corpus))
    show("CDS (swap with probability 0.5)", *CDS(seed=0).apply(corpus))
    names = WordPairs.from_pairs([("john", "mary")], source="example names")
    show("CDA with an extra name list", *CDA(pairs=WordPairs.gender() + names, two_sided=False).apply(
        datasets.Dataset.from_dict({"text": ["John thanked Mary for her help."]})))
    show("Control: random duplication matching CDA", *RandomDuplication(report, seed=0).apply(corpus))
    show("Toxicity filter (LDNOOBW word list, sentences)", *ToxicityFilter(scorer=WordListScorer(), level="sentence").apply(corpus))
    show("Control: remove as many random non-toxic sentences", *RandomRemoval(scorer=WordListScorer(), level="sentence", seed=0).apply(corpus))
    for axis in ("gender", "race", "age"):
        show(f"Perturbation augmentation ({axis})", *PerturbationAugmentation(axis=axis, seed=1).apply(corpus))
    out, reports = Pipeline([ToxicityFilter(), CDA()]).apply(corpus)
    print("\n== Pipeline: toxicity filter, then CDA")
    for r in reports:
        print("   ", r)


if __name__ == "__main__":
    main()
