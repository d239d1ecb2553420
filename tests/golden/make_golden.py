"""Write the golden inputs and outputs of tests/golden/test_golden.py (run once, before a refactor; never in CI).

    python tests/golden/make_golden.py            # from the repository root, with ../shared beside it

* ``sandbox/``: the cell folders of a tiny CDA sandbox grid (2 seeds, the shipped corpus) without their training
  folders, and what ``babybias sandbox --collect`` wrote from them (``expected/``);
* ``transfer/``: the cell records of a tiny Bias in Bios bias-transfer grid (no bio text: metrics, per-occupation
  rows and reports only) without their fine-tuned models, and what ``collect`` wrote (``expected/``);
* ``tiny_model/`` and ``evaluate.json``: a tiny saved masked LM and its scores on every registered benchmark.

Recorded on 2026-12-07 at commit 0799088 (issue 20): the golden test then holds every later change to them.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

COLLECTED = ("results.json", "table.csv", "effects.csv", "summary.txt")
TRANSFER_COLLECTED = ("results.json", "table.csv", "effects.csv", "regression.csv", "summary.txt")
#: per-item text the collect never reads, left out of the kept evaluation.json files (they stay small)
TEXT_COLUMNS = ("sent_more", "sent_less", "context", "sentence", "text", "sentence_good", "sentence_bad")


def _strip_text(path: Path) -> None:
    data = json.loads(path.read_text())
    for bench in data["benchmarks"].values():
        bench["rows"] = [{k: v for k, v in row.items() if k not in TEXT_COLUMNS} for row in bench["rows"]]
    path.write_text(json.dumps(data, separators=(",", ":")))


def _expected(dest: Path, collect, names, work: Path, **options) -> None:
    """What ``collect`` writes from a copy of the kept cells, into ``dest/expected``."""
    copy = work / f"{dest.name}-copy"
    shutil.copytree(dest, copy)
    collect(copy, **options)
    (dest / "expected").mkdir()
    for name in names:
        shutil.copy(copy / name, dest / "expected" / name)


def sandbox(work: Path) -> None:
    from babybias.experiment import SandboxConfig, run

    os.chdir(work)
    config = SandboxConfig(output_dir="sandbox", seeds=2, steps=4, vocab_size=400, blimp_limit=2, bias_limit=20,
                           progress=False, n_resamples=199)
    run(config)
    dest = HERE / "sandbox"
    shutil.rmtree(dest, ignore_errors=True)
    for cell in sorted((work / "sandbox" / "cells").glob("*/seed-*")):
        target = dest / "cells" / cell.parent.name / cell.name
        target.mkdir(parents=True)
        for name in ("cell.json", "report.json", "evaluation.json", "scores.json"):
            shutil.copy(cell / name, target / name)
        _strip_text(target / "evaluation.json")
    shutil.copy(work / "sandbox" / "grid.json", dest / "grid.json")
    from babybias.experiment import collect

    _expected(dest, collect, COLLECTED, work, n_resamples=199)


def transfer(work: Path) -> None:
    from babybias.downstream import TransferConfig, bias_transfer, finetune_recipe, load_bios
    from babybias.testing import tiny_masked_lm, tiny_tokenizer

    bios_file = REPO.parent / "shared" / "data" / "bias_in_bios" / "bios_sample_28_professions.csv.gz"
    bios = load_bios(bios_file)
    tok = tiny_tokenizer(texts=bios.text.tolist(), vocab_size=1500)
    model = tiny_masked_lm(tok, hidden=32)
    out = work / "transfer"
    config = TransferConfig(task="bios", model=model, tokenizer=tok, out_dir=out, seeds=(0, 1),
                            interventions=["baseline", "scrub", "rebalance"], train=str(bios_file),
                            finetune=finetune_recipe("tiny", max_steps=20), n_resamples=99, max_test=600)
    bias_transfer(config, progress=False)
    dest = HERE / "transfer"
    shutil.rmtree(dest, ignore_errors=True)
    for cell in sorted((out / "cells").glob("*/seed-*")):
        target = dest / "cells" / cell.parent.name / cell.name
        target.mkdir(parents=True)
        shutil.copy(cell / "cell.json", target / "cell.json")
    shutil.copy(out / "grid.json", dest / "grid.json")
    from babybias.downstream import collect

    _expected(dest, collect, TRANSFER_COLLECTED, work)


def evaluate_tiny() -> None:
    from tests.golden.test_golden import golden_benchmarks
    from babybias.evaluate import evaluate
    from babybias.testing import tiny_masked_lm, tiny_tokenizer

    tok = tiny_tokenizer(vocab_size=300)
    model = tiny_masked_lm(tok, hidden=16, layers=1)
    folder = HERE / "tiny_model"
    shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    model, tok = AutoModelForMaskedLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    scores = {}
    for name, bench, limit in golden_benchmarks():
        scores[name] = evaluate(model, tok, [bench], limit=limit, progress=False).scores
    (HERE / "evaluate.json").write_text(json.dumps(scores, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        what = sys.argv[1:] or ["sandbox", "transfer", "evaluate"]
        if "evaluate" in what:
            evaluate_tiny()
        if "transfer" in what:
            transfer(Path(tmp))
        if "sandbox" in what:
            sandbox(Path(tmp))
