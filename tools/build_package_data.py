"""Rebuild the benchmark data shipped inside the package from ``../shared/data``.

Run from the repository root: ``python tools/build_package_data.py [--shared PATH]``.
Copies each upstream file (gzipped with a fixed mtime so rebuilds are byte-identical), writes the
BabyLM-filtered BLiMP subset as kept pair ids, and places each license / attribution next to its
data. EWoK and the BLiMP supplement are deliberately *not* shipped (see docs/data.md).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "babybias" / "evaluate" / "data"


def gzip_bytes(data: bytes, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0, filename="") as gz:
        gz.write(data)


def read_maybe_gz(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


def build_crows(shared: Path) -> None:
    src = shared / "crows_pairs"
    gzip_bytes((src / "crows_pairs_anonymized.csv").read_bytes(), OUT / "crows_pairs" / "crows_pairs_anonymized.csv.gz")
    (OUT / "crows_pairs" / "LICENSE.md").write_text(
        "CrowS-Pairs (Nangia, Vania, Bhalerao & Bowman, EMNLP 2020)\n"
        "Upstream: https://github.com/nyu-mll/crows-pairs @ 8aaac11c485473159ec9328a65253a5be9a479dc,\n"
        "data/crows_pairs_anonymized.csv (gzipped here, bytes unchanged).\n\n"
        "License: Creative Commons Attribution-ShareAlike 4.0 International (CC BY-SA 4.0),\n"
        "https://creativecommons.org/licenses/by-sa/4.0/ (statement in the upstream README).\n"
        "The data statement asks that the data not be used to train machine learning models.\n"
    )


def build_stereoset(shared: Path) -> None:
    src = shared / "stereoset"
    dst = OUT / "stereoset"
    dst.mkdir(parents=True, exist_ok=True)
    for split in ("dev", "test"):
        shutil.copyfile(src / f"stereoset_{split}.json.gz", dst / f"{split}.json.gz")
    shutil.copyfile(src / "LICENSE.md", dst / "LICENSE.md")
    (dst / "ATTRIBUTION.md").write_text(
        "StereoSet (Nadeem, Bethke & Reddy, ACL 2021). License: CC BY-SA 4.0 (LICENSE.md, from\n"
        "moinnadeem/StereoSet). dev.json.gz: moinnadeem/StereoSet @ ead7d086, data/dev.json.\n"
        "test.json.gz: McGill-NLP/bias-bench @ 291426aa, data/stereoset/test.json (full test set).\n"
        "Both are gzip of the upstream bytes.\n"
    )


def build_blimp(shared: Path) -> None:
    src = shared / "blimp"
    dst = OUT / "blimp"
    dst.mkdir(parents=True, exist_ok=True)
    kept: dict[str, list[str]] = {}
    for path in sorted(src.glob("*.jsonl")):
        data = path.read_bytes()
        gzip_bytes(data, dst / f"{path.stem}.jsonl.gz")
        by_pair = {}
        for line in data.decode("utf-8").splitlines():
            row = json.loads(line)
            by_pair[(row["sentence_good"], row["sentence_bad"])] = str(row["pairID"])
        filtered = shared / "blimp_filtered_babylm" / f"{path.stem}.jsonl.gz"
        ids = []
        for line in read_maybe_gz(filtered).decode("utf-8").splitlines():
            row = json.loads(line)
            pid = by_pair[(row["sentence_good"], row["sentence_bad"])]
            if str(row["pair_id"]) != pid:
                raise SystemExit(f"{filtered}: pair_id {row['pair_id']} is pairID {pid} in {path}")
            ids.append(pid)
        kept[path.stem] = ids
    (dst / "babylm_filtered_pair_ids.json").write_text(json.dumps(kept, indent=0, sort_keys=True) + "\n")
    (dst / "LICENSE.md").write_text(
        "BLiMP (Warstadt, Parrish, Liu, Mohananey, Peng, Wang & Bowman, TACL 2020)\n"
        "Upstream: https://github.com/alexwarstadt/blimp @ 3e56b06fcabca9b30822fc66435fca6b1aa40bb1,\n"
        "data/*.jsonl (gzipped here, bytes unchanged).\n"
        "License: Creative Commons Attribution 4.0 International (CC BY 4.0),\n"
        "https://creativecommons.org/licenses/by/4.0/ (statement in the upstream README).\n\n"
        "babylm_filtered_pair_ids.json lists, per paradigm, the pairIDs kept in the BabyLM Challenge's\n"
        "vocabulary-filtered BLiMP ('blimp_filtered', BabyLM 2023/2024 evaluation pipelines), as found\n"
        "in davda54/babylm-v2 @ c28c483c (5_evaluation/blimp/data/blimp/); every kept pair was checked\n"
        "to be the original BLiMP pair with that id. Attribution: the BabyLM Challenge organisers\n"
        "(Warstadt et al. 2023; Choshen et al. 2024).\n"
    )


def build_winobias(shared: Path) -> None:
    src = shared / "winobias"
    dst = OUT / "winobias"
    dst.mkdir(parents=True, exist_ok=True)
    names = [p.name for p in src.iterdir() if "stereotyped" in p.name or p.name.endswith("occupations.txt")]
    for name in sorted(names) + ["LICENSE"]:
        shutil.copyfile(src / name, dst / name)
    (dst / "ATTRIBUTION.md").write_text(
        "WinoBias (Zhao, Wang, Yatskar, Ordonez & Chang, NAACL 2018). Upstream:\n"
        "https://github.com/uclanlp/corefBias @ 0bce984dd081bbc10b0622f326727a024c607895,\n"
        "WinoBias/wino/data/ (files unchanged). License: MIT (LICENSE, copied from upstream).\n"
    )


def build_word_lists(shared: Path) -> None:
    """Word lists for babybias.corpus: Zhao et al. 2018 gender pairs, LDNOOBW, HolisticBias descriptors and nouns."""
    src = shared / "word_lists"
    dst = ROOT / "src" / "babybias" / "corpus" / "data"
    dst.mkdir(parents=True, exist_ok=True)
    male = (src / "zhao2018_gn_glove" / "male_word_file.txt").read_text().split()
    female = (src / "zhao2018_gn_glove" / "female_word_file.txt").read_text().split()
    if len(male) != len(female):
        raise SystemExit("zhao2018 male/female files differ in length")
    (dst / "gender_pairs_zhao2018.tsv").write_text("".join(f"{m}\t{f}\n" for m, f in zip(male, female)))
    shutil.copyfile(src / "zhao2018_gn_glove" / "LICENSE", dst / "LICENSE-zhao2018-gn-glove.txt")
    shutil.copyfile(src / "ldnoobw" / "en.txt", dst / "ldnoobw_en.txt")
    shutil.copyfile(src / "ldnoobw" / "LICENSE", dst / "LICENSE-ldnoobw.txt")
    shutil.copyfile(src / "holistic_bias_v1.1" / "descriptors.json", dst / "holistic_bias_descriptors.json")
    shutil.copyfile(src / "holistic_bias_v1.1" / "nouns.json", dst / "holistic_bias_nouns.json")
    shutil.copyfile(src / "holistic_bias_v1.1" / "LICENSE", dst / "LICENSE-holistic-bias.txt")
    (dst / "ATTRIBUTION.md").write_text(
        "Word lists shipped with babybias.corpus\n\n"
        "- gender_pairs_zhao2018.tsv: the male/female definitional word lists of Zhao, Zhou, Li, Wang & Chang\n"
        "  (EMNLP 2018, 'Learning Gender-Neutral Word Embeddings'), uclanlp/gn_glove @ 7e0c7cab, wordlist/\n"
        "  {male,female}_word_file.txt, line i paired with line i. License: Apache-2.0 (LICENSE-zhao2018-gn-glove.txt).\n"
        "- ldnoobw_en.txt: 'List of Dirty, Naughty, Obscene, and Otherwise Bad Words', English list, LDNOOBW @ 5faf2ba4.\n"
        "  License: CC BY 4.0 (LICENSE-ldnoobw.txt).\n"
        "- holistic_bias_descriptors.json: HolisticBias v1.1 descriptors (Smith, Hall, Kambadur, Presani & Williams,\n"
        "  EMNLP 2022), facebookresearch/ResponsibleNLP @ 0ec714eb, holistic_bias/dataset/v1.1/descriptors.json.\n"
        "  License: CC BY-SA 4.0 for the dataset (LICENSE-holistic-bias.txt, second part).\n"
        "- holistic_bias_nouns.json: HolisticBias v1.1 person nouns (singular, plural; female/male/neutral), same\n"
        "  authors and commit, holistic_bias/dataset/v1.1/nouns.json, unchanged. License: CC BY-SA 4.0 for the dataset\n"
        "  (LICENSE-holistic-bias.txt, second part). Used to decide where a descriptor describes a person.\n"
    )


def detokenize(text: str) -> str:
    """Undo the upstream tokenisation's spaces around punctuation and clitics ("word ." → "word.")."""
    import re

    text = re.sub(r"\s+([.,!?;:%)\]}])", r"\1", text.strip())
    text = re.sub(r"([(\[{$])\s+", r"\1", text)
    text = re.sub(r"\s+('s|'re|'ve|'ll|'d|'m|n't)\b", r"\1", text)
    return re.sub(r'"\s+(.*?)\s+"', r'"\1"', text)


def build_sandbox_corpus(shared: Path) -> None:
    """The sandbox's default corpus: the Wikipedia half of english_text_sample (CC BY-SA; never CHILDES)."""
    import csv
    import io

    src = shared / "english_text_sample" / "wikipedia_en_validation.csv.gz"
    rows = [detokenize(r["text"]) for r in csv.DictReader(io.StringIO(gzip.decompress(src.read_bytes()).decode("utf-8")))]
    dst = ROOT / "src" / "babybias" / "data"
    gzip_bytes(("\n".join(r for r in rows if r) + "\n").encode("utf-8"), dst / "wikipedia_sample.txt.gz")
    (dst / "ATTRIBUTION.md").write_text(
        "wikipedia_sample.txt.gz: 16,316 English Wikipedia sentences (lower-cased, tokenised), the validation part of\n"
        "the size-matched Wikipedia corpus of Padovani et al. 2025 ('Child-Directed Language Does Not Consistently\n"
        "Boost Syntax Learning in Language Models'), fpadovani/childes_vs_wiki @ e8253118,\n"
        "dataset/english/wikipedia/validation.csv (text column, one sentence a line), with the upstream spaces\n"
        "before punctuation and clitics removed (tools/build_package_data.py: detokenize).\n"
        "Text from Wikipedia, by Wikipedia contributors, licensed under CC BY-SA (https://creativecommons.org/licenses/by-sa/4.0/);\n"
        "this derivative keeps that license. Used as the babybias sandbox's default corpus.\n"
    )


def build_downstream(shared: Path) -> None:
    """Dixon et al.'s identity-term toxicity evaluation sets (CC BY 4.0). Never the Bias in Bios bios."""
    src = shared / "identity_toxicity_templates"
    dst = ROOT / "src" / "babybias" / "downstream" / "data"
    dst.mkdir(parents=True, exist_ok=True)
    gzip_bytes(read_maybe_gz(src / "bias_madlibs_77k.csv.gz"), dst / "bias_madlibs_77k.csv.gz")
    gzip_bytes((src / "toxicity_nonfuzzed_testset.csv").read_bytes(), dst / "toxicity_nonfuzzed_testset.csv.gz")
    gzip_bytes((src / "toxicity_fuzzed_testset.csv").read_bytes(), dst / "toxicity_fuzzed_testset.csv.gz")
    shutil.copyfile(src / "bias_madlibs_data" / "adjectives_people.txt", dst / "identity_terms.txt")
    (dst / "ATTRIBUTION.md").write_text(
        "Identity-term toxicity evaluation data of Dixon, Li, Sorensen, Thain & Vasserman, 'Measuring and\n"
        "Mitigating Unintended Bias in Text Classification' (AIES 2018), from Jigsaw / Conversation AI,\n"
        "https://github.com/conversationai/unintended-ml-bias-analysis @ 9c7d91aaa53406a362354661a93e07956d95e59a\n"
        "(files last changed in c61e656afc9874b8b17842c5365178866313f527):\n\n"
        "- bias_madlibs_77k.csv.gz: archive/unintended_ml_bias/eval_datasets/bias_madlibs_77k.csv (76,564 templated\n"
        "  sentences; columns Text, Label BAD/NOT_BAD, Template), gzipped, bytes unchanged;\n"
        "- toxicity_nonfuzzed_testset.csv.gz / toxicity_fuzzed_testset.csv.gz: archive/unintended_ml_bias/eval_datasets/\n"
        "  (1,492 labelled Wikipedia Talk comments each; columns rev_id, comment, toxic), gzipped, bytes unchanged;\n"
        "- identity_terms.txt: archive/unintended_ml_bias/bias_madlibs_data/adjectives_people.txt (50 terms).\n\n"
        "License: Creative Commons Attribution 4.0 International (CC BY 4.0), https://creativecommons.org/licenses/by/4.0/\n"
        "('All data in this repository is made available under the Creative Commons Attribution 4.0 International\n"
        "license', upstream README). The comments are real Wikipedia Talk comments and include toxic language.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    for build in (build_crows, build_stereoset, build_blimp, build_winobias, build_word_lists, build_sandbox_corpus,
                  build_downstream):
        build(args.shared)
        print("built", build.__name__.removeprefix("build_"))


if __name__ == "__main__":
    main()
