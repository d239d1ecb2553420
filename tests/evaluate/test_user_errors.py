"""Issue 19, the Python side: no benchmarks, an empty pairs file, a benchmark without its data, a
tokenizer that is not the model's and a damaged weights file each raise one clear error."""

from __future__ import annotations

import pytest

from babybias.evaluate import DataFormatError, EWoK, MinimalPairs, evaluate, get_benchmark, load_minimal_pairs
from babybias.evaluate.registry import MissingDataError
from babybias.evaluate.scoring import TokenizerMismatchError, check_tokenizer_fits
from babybias.models.convert import WeightsFileError, check_weight_file
from tests.conftest import UnigramLM, word_level_tokenizer


@pytest.mark.parametrize("benchmarks", [[], (), iter([])])
def test_evaluate_with_no_benchmarks_raises(benchmarks, wl_tok):
    with pytest.raises(ValueError, match=r"evaluate\(\) got no benchmarks"):
        evaluate(UnigramLM("mlm", wl_tok), wl_tok, benchmarks, progress=False)


def test_empty_pairs_file_is_a_data_format_error(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"sentence_good": "a b", "sentence_bad": "b a"}\n')
    (tmp_path / "b.jsonl").write_text("\n")
    with pytest.raises(DataFormatError, match=r"b\.jsonl: no minimal pairs \(the file is empty"):
        load_minimal_pairs(tmp_path)
    with pytest.raises(DataFormatError, match="no minimal pairs"):
        MinimalPairs(name="x", source=tmp_path / "b.jsonl").check_data()  # before any model is needed


@pytest.mark.parametrize("bench, needs", [(EWoK(), "ewok_filtered folder"), (get_benchmark("blimp_supplement"), "supplement's"),
                                          (MinimalPairs(name="mine"), ".jsonl file")])
def test_benchmark_without_source_says_what_to_pass(bench, needs):
    with pytest.raises(MissingDataError, match=f"benchmark '{bench.name}' .*: pass source= .*{needs}") as info:
        bench.check_data()
    assert info.value.benchmark == bench.name and info.value.password == isinstance(bench, EWoK)


def test_tokenizer_that_does_not_fit_is_its_own_error(wl_tok):
    from babybias.testing import tiny_masked_lm

    model = tiny_masked_lm(wl_tok, hidden=16, layers=1)
    bigger = word_level_tokenizer(list(wl_tok.get_vocab()) + ["extra1", "extra2"])
    with pytest.raises(TokenizerMismatchError, match=f"tokenizer has {len(bigger)} ids .* embedding has {len(wl_tok)} rows"):
        check_tokenizer_fits(model, bigger)


def test_damaged_weights_file_names_the_file(tmp_path):
    import torch
    from safetensors.torch import save_file

    good = tmp_path / "model.safetensors"
    save_file({"w": torch.zeros(4, 4)}, str(good))
    check_weight_file(good)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:-10])
    with pytest.raises(WeightsFileError, match=f"weights file {cut} is truncated or not a safetensors file"):
        check_weight_file(cut)
    torch.save({"w": torch.zeros(4)}, tmp_path / "pytorch_model.bin")
    check_weight_file(tmp_path / "pytorch_model.bin")
    (tmp_path / "bad.bin").write_bytes(b"<html>")
    with pytest.raises(WeightsFileError, match="neither a readable zip nor a pickle"):
        check_weight_file(tmp_path / "bad.bin")
    (tmp_path / "empty.bin").write_bytes(b"")
    with pytest.raises(WeightsFileError, match="is empty"):
        check_weight_file(tmp_path / "empty.bin")
