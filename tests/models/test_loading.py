"""The one loader (``babybias.models.load_lm``, ``lm_kind``, ``load_tokenizer``) and the projection API
(``babybias.models.projection``): kinds, round trips, debiased folders, one-line errors."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from babybias.helpers.registry import Registry
from babybias.models import loading
from babybias.models.loading import LMKindError, LoadError, MissingTokenizerError, lm_kind, lm_kind_reason, load_lm, \
    load_tokenizer, save_lm
from babybias.models.projection import (attach_projection, projection_of, projection_record, read_projection,
                                        save_projection)

TINY = Path(__file__).resolve().parents[1] / "golden" / "tiny_model"  # a saved BERT masked LM with its tokenizer


@pytest.fixture(scope="module")
def tiny():
    from transformers import AutoModelForMaskedLM

    return AutoModelForMaskedLM.from_pretrained(TINY).eval(), load_tokenizer(TINY)


@pytest.fixture
def folder(tmp_path):
    """A writable copy of the tiny model's folder."""
    return Path(shutil.copytree(TINY, tmp_path / "m"))


def _logits(model, tok) -> torch.Tensor:
    enc = tok(["the doctor asked the nurse .", "he is tall ."], padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits


def _projection(d: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(d, 1))
    return np.eye(d) - v @ v.T / (v.T @ v)  # remove one direction


# ------------------------------------------------------------------------------------------- lm_kind


def test_lm_kind_of_configs():
    from transformers import BertConfig, GPT2Config

    assert lm_kind(BertConfig(architectures=["BertForMaskedLM"])) == "mlm"
    assert lm_kind_reason(GPT2Config(architectures=["GPT2LMHeadModel"])) == (
        "clm", "from config.json architectures ['GPT2LMHeadModel']")
    assert lm_kind_reason(GPT2Config())[0] == "clm"  # no architectures: only the causal Auto class knows gpt2
    with pytest.raises(LMKindError, match=r"masked or a causal LM .*model_type 'bert'\); pass kind='mlm' or kind='clm'$"):
        lm_kind(BertConfig())  # bert has both classes
    config = BertConfig()
    config.babybias_lm_kind = "clm"
    assert lm_kind(config) == "clm"


def test_lm_kind_of_instances_and_folders(tiny):
    from babybias.evaluate.scoring import model_kind

    model, _ = tiny
    assert lm_kind(model) == model_kind(model) == "mlm"
    assert lm_kind(TINY) == lm_kind(str(TINY)) == "mlm"

    class Wrapped(torch.nn.Module):
        babybias_lm_kind = "clm"

    assert lm_kind_reason(Wrapped()) == ("clm", "from its babybias_lm_kind")
    with pytest.raises(ValueError, match=r"^cannot tell whether Linear is a masked or a causal LM; pass kind="):
        lm_kind(torch.nn.Linear(2, 2))


# ------------------------------------------------------------------------------------------- load_lm


def test_load_lm_round_trip(tiny):
    model, tok = tiny
    loaded = load_lm(TINY)
    assert type(loaded).__name__ == "BertForMaskedLM" and projection_of(loaded) is None
    torch.testing.assert_close(_logits(loaded.eval(), tok), _logits(model, tok), rtol=0, atol=0)


def test_a_debiased_folder_comes_back_debiased(tiny, folder):
    model, tok = tiny
    debiased = attach_projection(model, _projection(16), info={"method": "test"})
    save_projection(debiased, folder)
    p, record = read_projection(folder)
    assert record == {"head": "cls", "steps": [{"method": "test"}], "format": 1} and p.dtype == np.float32
    loaded = load_lm(folder, "mlm").eval()
    assert projection_record(loaded) == projection_record(debiased) == {"head": "cls", "steps": [{"method": "test"}]}
    np.testing.assert_array_equal(projection_of(loaded), projection_of(debiased))
    torch.testing.assert_close(_logits(loaded, tok), _logits(debiased, tok), rtol=0, atol=0)
    assert not torch.allclose(_logits(loaded, tok), _logits(model, tok))
    assert read_projection(TINY) is None


def test_save_lm_writes_what_load_lm_reads(tiny, tmp_path):
    model, tok = tiny
    plain = save_lm(model, tmp_path / "plain", tok)
    assert read_projection(plain) is None and load_tokenizer(plain).get_vocab() == tok.get_vocab()
    debiased = attach_projection(model, _projection(16), info={"method": "test"})
    loaded = load_lm(save_lm(debiased, tmp_path / "debiased", tok)).eval()
    assert projection_record(loaded) == {"head": "cls", "steps": [{"method": "test"}]}
    torch.testing.assert_close(_logits(loaded, tok), _logits(debiased, tok), rtol=0, atol=0)


def test_debias_exports_the_projection_api(tiny, folder):
    import babybias.debias as debias
    from babybias.models import projection

    for name in ("attach_projection", "detach_projection", "projection_of", "projection_record", "save_projection",
                 "read_projection", "lm_head", "HEAD_NAMES", "hidden_size"):
        assert getattr(debias, name) is getattr(projection, name)
    model, tok = tiny
    debias.save_debiased(debias.attach_projection(model, _projection(16)), folder, tok)
    again = debias.load_debiased(folder)  # the class config.json names, projection re-attached
    np.testing.assert_array_equal(projection_of(again), projection_of(load_lm(folder)))


# ------------------------------------------------------------------------------------ one-line errors


def test_one_line_errors(folder, tmp_path):
    from transformers import GPT2Config

    with pytest.raises(LoadError, match=r"is a file; give the folder that save_pretrained wrote"):
        load_lm(folder / "config.json")
    run = tmp_path / "run"
    shutil.copytree(folder, run / "final")
    with pytest.raises(LoadError, match=rf"model folder {run} has no config.json; a training run's model is in {run / 'final'}"):
        load_lm(run)
    (tmp_path / "empty").mkdir()
    with pytest.raises(LoadError, match=r"has no config.json; is it a save_pretrained folder\?"):
        load_lm(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match=r"model folder ./no_such_model does not exist"):
        load_lm("./no_such_model")
    GPT2Config(n_embd=8, n_layer=1, n_head=2, vocab_size=50).save_pretrained(tmp_path / "gpt2")
    with pytest.raises(LMKindError, match=r"model_type 'gpt2'\) has no masked-LM class; try kind='clm'$") as err:
        load_lm(tmp_path / "gpt2", "mlm")
    assert err.value.suggest == "clm"
    with pytest.raises(LoadError, match=r"kind must be 'mlm' \(masked LM\) or 'clm'"):
        load_lm(folder, "seq2seq")
    with pytest.raises(MissingTokenizerError, match=rf"^model folder {tmp_path / 'gpt2'} has no tokenizer files"):
        load_tokenizer(tmp_path / "gpt2", what="model folder")


def test_a_saved_wrapper_without_its_handler_asks_for_babybias_debias(folder, monkeypatch):
    (folder / "self_debias.json").write_text(json.dumps({"method": "self-debias", "prefixes": ["biased: "], "decay": 50.0,
                                                         "epsilon": 0.01, "kind": "mlm", "format": 1}))
    monkeypatch.setattr(loading, "SAVED_WRAPPERS", Registry("saved wrapper"))  # as if babybias.debias was never imported
    with pytest.raises(LoadError, match=r"holds self_debias.json, .*: import babybias.debias first"):
        load_lm(folder)
    monkeypatch.undo()
    import babybias.debias as debias  # registers the Self-Debias handler

    wrapped = load_lm(folder)
    assert isinstance(wrapped, debias.SelfDebiasedLM) and wrapped.prefixes == ["biased: "]
    assert loading.debias_files(folder) == ["self_debias.json"] and loading.wrapper_files(folder) == ["self_debias.json"]


def test_kind_from_config_is_a_deprecated_alias():
    from transformers import BertConfig

    import babybias.cli as cli

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kind_from_config = cli.kind_from_config
    assert any(issubclass(w.category, DeprecationWarning) and "babybias.models.loading" in str(w.message) for w in caught)
    assert kind_from_config(BertConfig(architectures=["BertForMaskedLM"])) == (
        "mlm", "from config.json architectures ['BertForMaskedLM']")
