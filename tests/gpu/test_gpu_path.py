"""The GPU path, each part against its reference on the same inputs: bf16 autocast vs fp32, fast attention
vs eager, ``torch.compile`` vs eager, an interrupted and resumed run vs an uninterrupted one, ``torchrun``
(NCCL) vs one process, scorers on the device vs the CPU, and fine-tuning in bf16.

Tolerances (stated here, reported by the GPU acceptance): bf16 autocast changes the loss by at most 2 % and
the log-probabilities by 0.05 nats on average, and gradients keep a cosine of 0.99 with fp32's; fp32 paths
(fast vs eager attention, compiled vs eager, device vs CPU) agree to 1e-4 of the largest value; scores on
the device agree with the CPU's within 0.1 points in fp32 and 5 points in bf16 (the model cast to bf16; a
random model's near-ties flip, and one of the StereoSet slice's 100 items is a point; 15 points for the CPU
quick mode's toy slices of a few dozen items).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from babybias.corpus import wikipedia_sample
from babybias.evaluate import evaluate
from babybias.models import (GptBertConfig, GptBertForCausalLM, GptBertForMaskedLM, LtgBertConfig, LtgBertForMaskedLM,
                             train_tokenizer)
from babybias.testing import tiny_tokenizer
from babybias.train import HybridCollator, LossModule, MaskingConfig, SpanMaskingCollator, TrainConfig, train

from . import _train_run

MODES = ("ltg-bert", "gpt-bert-causal", "gpt-bert-masked")
BF16_LOSS_RTOL, BF16_LOGPROB_MEAN, BF16_GRAD_COSINE = 0.02, 0.05, 0.99
FP32_REL = 1e-4
FP32_SCORE_POINTS = 0.1


def build(mode: str, size, vocab: int | None = None, seed: int = 0, layers: int | None = None):
    fields = dict(vocab_size=vocab or size.vocab, hidden_size=size.hidden, num_hidden_layers=layers or size.layers,
                  num_attention_heads=size.heads, intermediate_size=2 * size.hidden, hidden_dropout_prob=0.0,
                  attention_probs_dropout_prob=0.0)
    torch.manual_seed(seed)
    if mode == "ltg-bert":
        return LtgBertForMaskedLM(LtgBertConfig(**fields))
    return (GptBertForCausalLM if mode == "gpt-bert-causal" else GptBertForMaskedLM)(GptBertConfig(**fields))


def random_batch(size, device, mode: str, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, size.vocab, (size.batch, size.length), generator=g)
    mask = torch.ones_like(ids)
    mask[0, size.length * 3 // 4:] = 0  # one padded row
    if mode == "gpt-bert-causal":
        labels = ids.masked_fill(mask == 0, -100)
    else:
        labels = torch.where(torch.rand(ids.shape, generator=g) < 0.15, ids, -100)
        labels[:, 0] = -100
        labels[mask == 0] = -100
    return {k: v.to(device) for k, v in dict(input_ids=ids, attention_mask=mask, labels=labels).items()}


def grads(model) -> list[torch.Tensor]:
    return [p.grad.detach().float().clone() for p in model.parameters() if p.grad is not None]


def max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a − b| over the largest |b| (0 when both are 0)."""
    scale = float(b.abs().max())
    return float((a.float() - b.float()).abs().max()) / scale if scale else float((a - b).abs().max())


def cosine(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    x, y = torch.cat([t.flatten() for t in a]), torch.cat([t.flatten() for t in b])
    return float(x @ y / (x.norm() * y.norm()))


@pytest.mark.parametrize("mode", MODES)
def test_bf16_autocast_matches_fp32(mode, device, size):
    model = build(mode, size).to(device).train()  # no dropout: train mode only switches nothing
    batch = random_batch(size, device, mode)
    out = model(**batch)
    out.loss.backward()
    ref_loss, ref_lp, ref_grads = float(out.loss.detach()), torch.log_softmax(out.logits.detach().float(), -1), grads(model)
    model.zero_grad()
    with torch.autocast(device.type, dtype=torch.bfloat16):
        out = model(**batch)
    out.loss.backward()
    loss, lp = float(out.loss.detach()), torch.log_softmax(out.logits.detach().float(), -1)
    assert abs(loss - ref_loss) <= BF16_LOSS_RTOL * ref_loss, (loss, ref_loss)
    assert float((lp - ref_lp).abs().mean()) <= BF16_LOGPROB_MEAN
    assert cosine(grads(model), ref_grads) >= BF16_GRAD_COSINE


@pytest.mark.parametrize("mode", MODES)
def test_fast_attention_matches_eager(mode, device, size):
    model = build(mode, size).to(device).train()
    batch = random_batch(size, device, mode, seed=1)
    results = {}
    for impl in ("eager", "sdpa"):
        model.set_attention_implementation(impl)
        model.zero_grad()
        out = model(**batch)
        out.loss.backward()
        results[impl] = (out.loss.detach(), out.logits.detach(), grads(model))
    (loss, logits, g), (ref_loss, ref_logits, ref_g) = results["sdpa"], results["eager"]
    assert max_rel(loss, ref_loss) <= FP32_REL and max_rel(logits, ref_logits) <= FP32_REL
    assert max(max_rel(a, b) for a, b in zip(g, ref_g)) <= 10 * FP32_REL
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16):  # and in bf16, within bf16's tolerance
        bf16 = {}
        for impl in ("eager", "sdpa"):
            model.set_attention_implementation(impl)
            bf16[impl] = float(model(**batch).loss)
    assert abs(bf16["sdpa"] - bf16["eager"]) <= BF16_LOSS_RTOL * bf16["eager"]


def _collated(objective: str, size, step: int) -> dict[str, torch.Tensor]:
    masking = MaskingConfig(mask_token_id=4, vocab_size=size.vocab, special_ids=(0, 1, 2, 3, 4), pad_token_id=3)
    collate = (SpanMaskingCollator(masking, seed=0) if objective == "span"
               else HybridCollator(masking, causal_fraction=0.5, seed=0))
    rng = np.random.default_rng(step)
    segments = [np.concatenate([[2], rng.integers(5, size.vocab, size.length - 1)]) for _ in range(size.batch)]
    return collate(segments, np.arange(size.batch), step)


@pytest.mark.parametrize("objective", ["span", "hybrid"])
def test_compile_matches_eager(objective, device, size, compile_backend):
    """The loop's compiled loss module equals the eager one on two different batches on CUDA (fp32 for LTG-BERT's
    span masking; GPT-BERT's hybrid rows, a data-dependent split, under bf16 autocast as the loop runs it)."""
    mode = "ltg-bert" if objective == "span" else "gpt-bert-causal"
    config = TrainConfig(model_type=mode.split("-causal")[0], objective=objective, steps=1)
    model = build(mode, size, layers=2).to(device).train()
    module = LossModule(model, config)
    torch._dynamo.reset()
    compiled = torch.compile(module, backend=compile_backend)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=objective == "hybrid")
    for step in ((0, 1) if device.type == "cuda" else (0,)):  # a second batch (another causal/masked split) on CUDA
        batch = {k: v if k == "causal" else v.to(device) for k, v in _collated(objective, size, step).items()}
        runs = []
        for m in (module, compiled):
            model.zero_grad()
            with autocast:
                loss = m(**batch)
            loss.backward()
            runs.append((loss.detach().float(), grads(model)))
        (ref, ref_g), (got, got_g) = runs
        if objective == "span":
            assert max_rel(got, ref) <= FP32_REL
            assert max(max_rel(a, b) for a, b in zip(got_g, ref_g)) <= 10 * FP32_REL
        else:
            assert abs(float(got) - float(ref)) <= BF16_LOSS_RTOL * abs(float(ref))
            assert cosine(got_g, ref_g) >= BF16_GRAD_COSINE


@pytest.fixture(scope="module")
def corpus():
    return wikipedia_sample().select(range(1500))


@pytest.mark.parametrize("model_type", ["ltg-bert", "gpt-bert"])
def test_training_resumes_exactly(model_type, device, size, corpus, tmp_path):
    """bf16 training (autocast on CUDA), two background data workers: killed halfway and resumed, the run
    logs the same losses and ends with the same weights, bit for bit, as an uninterrupted one."""
    steps = 40 if device.type == "cuda" else 12
    config = _train_run.recipe(model_type, size, steps)
    tokenizer = train_tokenizer(corpus["text"], vocab_size=size.vocab, kind="wordpiece" if model_type == "ltg-bert" else "bpe",
                                min_frequency=2, lowercase=True)
    whole = train(config, corpus, tokenizer, tmp_path / "whole", progress=False, data_workers=2)
    cut = train(config, corpus, tokenizer, tmp_path / "cut", progress=False, data_workers=2, stop_after=steps // 2)
    assert cut.steps == steps // 2 and cut.final_dir is None
    resumed = train(config, corpus, tokenizer, tmp_path / "cut", progress=False, data_workers=2)
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in whole.history]
    assert all(math.isfinite(h["loss"]) for h in whole.history)
    ours, theirs = whole.model.state_dict(), resumed.model.state_dict()
    different = [name for name in ours if not torch.equal(ours[name], theirs[name])]
    assert not different, f"resumed weights differ: {different[:5]}"


def test_torchrun_equals_one_process(device, size, corpus, tmp_path):
    """``torchrun --nproc_per_node 1`` (a process group, NCCL on CUDA, DDP) trains exactly as one plain process."""
    reference = _train_run.run(size_name(size), tmp_path / "single")
    out = tmp_path / "torchrun.json"
    env_device = "cuda" if device.type == "cuda" else "cpu"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
                           str(Path(_train_run.__file__)), size_name(size), str(tmp_path / "ddp"), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    launched = json.loads(out.read_text())
    assert launched["backend"] == ("nccl" if env_device == "cuda" else "gloo")
    assert reference["backend"] is None
    assert launched["losses"] == reference["losses"]
    assert launched["weights_sha256"] == reference["weights_sha256"]


def size_name(size) -> str:
    return next(name for name, s in _train_run.SIZES.items() if s == size)


@pytest.fixture(scope="module")
def scoring_tokenizers():
    return {"mlm": tiny_tokenizer("wordpiece"), "clm": tiny_tokenizer("bpe")}


@pytest.mark.parametrize("kind", ["mlm", "clm"])
def test_scores_on_the_device_equal_the_cpu(kind, device, size, scoring_tokenizers):
    """CrowS-Pairs (all pairs), a BLiMP slice and a StereoSet slice: fp32 on the device equals the CPU within
    0.1 points; the model cast to bf16 within 5 points (15 on the toy slices)."""
    tokenizer = scoring_tokenizers[kind]
    model = build("ltg-bert" if kind == "mlm" else "gpt-bert-causal", size, vocab=len(tokenizer), layers=2).eval()
    crows_limit = None if device.type == "cuda" else size.limit
    suites = [(["crows_pairs"], crows_limit), (["blimp"], 5 if device.type == "cuda" else 1),
              (["stereoset"], 100 if device.type == "cuda" else 10)]

    def scores(m, where) -> dict[str, float]:
        out = {}
        for names, limit in suites:
            out |= evaluate(m, tokenizer, names, limit=limit, device=where, progress=False).scores
        return {k: v for k, v in out.items() if k.endswith(("/overall", "/ss", "/lms", "/icat", "/stereo", "/micro"))}

    cpu = scores(model, "cpu")
    on_device = scores(model, str(device))
    assert cpu.keys() == on_device.keys() and cpu
    fp32_gap = max(abs(on_device[k] - cpu[k]) for k in cpu)
    assert fp32_gap <= FP32_SCORE_POINTS, {k: (cpu[k], on_device[k]) for k in cpu}
    bf16 = scores(model.to(torch.bfloat16), str(device))
    bf16_gap = max(abs(bf16[k] - cpu[k]) for k in cpu)
    assert bf16_gap <= size.bf16_points, {k: (cpu[k], bf16[k]) for k in cpu}


def test_finetune_runs_in_bf16(device, size, scoring_tokenizers, tmp_path):
    """``downstream.finetune`` with bf16 on: the Trainer trains on the device in bf16 with finite losses."""
    from babybias.downstream import FineTuneConfig, finetune, load_classifier

    tokenizer = scoring_tokenizers["mlm"]
    model, tokenizer = load_classifier(build("ltg-bert", size, vocab=len(tokenizer), layers=2), 2, tokenizer=tokenizer)
    texts = [f"the {w} is {a} ." for w in ("doctor", "nurse", "man", "woman", "cat") for a in ("kind", "tall", "busy", "poor")]
    data = pd.DataFrame({"text": texts, "label": [i % 2 for i in range(len(texts))]})
    config = FineTuneConfig(epochs=1.0, learning_rate=1e-3, batch_size=4, max_length=32, warmup_ratio=0.0, save_steps=2,
                            logging_steps=1, bf16=True, max_steps=4)
    result = finetune(model, tokenizer, data, tmp_path / "ft", config)
    done = json.loads((tmp_path / "ft" / "done.json").read_text())
    assert done["config"]["bf16"] is True and done["steps"] == 4
    losses = [h["loss"] for h in result.history if "loss" in h]
    assert losses and all(math.isfinite(x) for x in losses)
    assert next(result.model.parameters()).device.type == device.type
