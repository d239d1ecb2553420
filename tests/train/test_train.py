"""Training: collator rates, schedules, LAMB, resume equality, checkpoint validity, DDP equivalence."""

from __future__ import annotations

import json
import math
import os
import socket

import datasets
import numpy as np
import pytest
import torch

from babybias.models import train_tokenizer
from babybias.testing import shipped_sentences
from babybias.train import (EvaluationCallback, GenderEqualizingLoss, HybridCollator, Lamb, MaskingConfig, SpanMaskingCollator,
                            TokenMaskingCollator, TrainConfig, get_recipe, latest_valid_checkpoint, list_checkpoints, lr_factor,
                            plot_trajectories, tokenize_corpus, train)
from babybias.train.data import global_batch_indices

TINY_MODEL = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=48)
NO_DROPOUT = dict(TINY_MODEL, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


@pytest.fixture(scope="session")
def texts():
    return shipped_sentences(per_paradigm=15)


@pytest.fixture(scope="session")
def corpus(texts):
    return datasets.Dataset.from_dict({"text": texts})


@pytest.fixture(scope="session")
def bpe(texts):
    return train_tokenizer(texts, vocab_size=500, kind="bpe", min_frequency=2)


@pytest.fixture(scope="session")
def wordpiece(texts):
    return train_tokenizer(texts, vocab_size=500, kind="wordpiece", min_frequency=2)


def tiny(**kw):
    base = dict(model_overrides={**TINY_MODEL, "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1}, steps=12,
                batch_size=8, seq_length=32, log_every=2, save_every=4, keep_last=2, warmup=0.1)
    return get_recipe("tiny", **{**base, **kw})


# ----------------------------------------------------------------------------------------- collators


def segments(n=400, length=64, vocab=500, start=1):
    rng = np.random.default_rng(0)
    return [np.concatenate([[start], rng.integers(20, vocab, length - 1)]) for _ in range(n)]


def masking(vocab=500):
    return MaskingConfig(mask_token_id=4, vocab_size=vocab, special_ids=(0, 1, 2, 3, 4), pad_token_id=3)


def fractions(batch, segs):
    labelled = batch["labels"] != -100
    ids, orig = batch["input_ids"][labelled], batch["labels"][labelled]
    return (labelled.float().sum() / (batch["attention_mask"].sum() - len(segs))).item(), \
        (ids == 4).float().mean().item(), (ids == orig).float().mean().item()


def test_token_masking_rates():
    segs = segments()
    batch = TokenMaskingCollator(masking(), rate=0.15, seed=1)(segs, np.arange(len(segs)), step=0)
    rate, masked, kept = fractions(batch, segs)
    assert abs(rate - 0.15) < 0.01 and abs(masked - 0.8) < 0.03 and abs(kept - 0.1) < 0.03  # random ones ~ the rest
    assert (batch["labels"][:, 0] == -100).all()  # the start token is never masked


def test_span_masking_rates_and_spans():
    segs = segments(n=600)
    collate = SpanMaskingCollator(masking(), rate=0.15, short_p=0.1, seed=2)
    batch = collate(segs, np.arange(len(segs)), step=3)
    lengths = batch["attention_mask"].sum(1)
    assert abs((lengths < 64).float().mean().item() - 0.1) < 0.04  # 10 % of sequences shortened
    full = lengths == 64
    labelled = (batch["labels"][full] != -100).float()
    assert abs(labelled.sum().item() / (63 * full.sum().item()) - 0.15) < 0.01
    runs = []  # lengths of contiguous labelled runs: spans of Geometric(1/3), cut at 10
    for row in labelled:
        r = 0
        for x in row.tolist() + [0]:
            if x:
                r += 1
            elif r:
                runs.append(r)
                r = 0
    assert 2.0 < np.mean(runs) < 3.5 and max(runs) <= 20  # adjacent spans can touch
    again = collate(segs, np.arange(len(segs)), step=3)
    assert torch.equal(batch["input_ids"], again["input_ids"])  # deterministic per (seed, step, index)


def test_hybrid_collator_mix_rate_and_spans():
    segs = segments(n=800)
    batch = HybridCollator(masking(), causal_fraction=0.25, rate=0.3, seed=0)(segs, np.arange(len(segs)), step=0)
    causal = batch["causal"]
    assert abs(causal.float().mean().item() - 0.25) < 0.04
    assert torch.equal(batch["labels"][causal][:, 1:], batch["input_ids"][causal][:, 1:])
    masked_labels = batch["labels"][~causal]
    assert (masked_labels[:, 0] == -100).all()
    assert abs((masked_labels != -100).float().sum().item() / (63 * masked_labels.shape[0]) - 0.3) < 0.01
    lower = HybridCollator(masking(), causal_fraction=0.0, seed=0)(segs, np.arange(len(segs)), step=0, rate=0.15)
    assert abs((lower["labels"] != -100).float().sum().item() / (63 * len(segs)) - 0.15) < 0.01


# ------------------------------------------------------------------------------ schedules and optim


def test_lr_schedule_and_recipe_phases():
    assert lr_factor(0, 100, 10) == pytest.approx(0.1) and lr_factor(9, 100, 10) == 1.0
    assert lr_factor(10, 100, 10) == pytest.approx(1.0) and lr_factor(100, 100, 10) == pytest.approx(0.1)
    assert lr_factor(55, 100, 10, "linear", 0.0) == pytest.approx(0.5)
    gpt = get_recipe("gpt_bert_100m")
    assert gpt.phase(0, 1000)[0] == 128 and gpt.phase(0, 1000)[1] == 64          # batch ramp-up starts at 1/4
    assert gpt.phase(500, 1000) == (128, 256) and gpt.phase(700, 1000) == (256, 128) and gpt.phase(950, 1000) == (512, 64)
    ltg = get_recipe("ltg_bert_100m")
    assert ltg.phase(0, 15625) == (128, 256) and ltg.phase(14100, 15625) == (512, 64)
    assert ltg.optimizer == "lamb" and ltg.lr == 1e-2 and ltg.betas == (0.9, 0.98) and ltg.clip == 2.0
    with pytest.raises(ValueError, match="hybrid"):
        TrainConfig(model_type="ltg-bert", objective="hybrid")
    with pytest.raises(ValueError, match="exactly one of steps and epochs"):
        TrainConfig(steps=10, epochs=1)
    with pytest.raises(KeyError, match="tiny"):
        get_recipe("huge")


def test_lamb_step_by_hand():
    p = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
    opt = Lamb([p], lr=0.1, betas=(0.9, 0.99), eps=1e-6, weight_decay=0.0)
    p.grad = torch.tensor([1.0, -2.0])
    opt.step()
    update = torch.tensor([1.0, -2.0]) / (torch.tensor([1.0, 2.0]) + 1e-6)  # m_hat / sqrt(v_hat): sign(g)
    expected = torch.tensor([3.0, 4.0]) - 0.1 * (5.0 / update.norm()) * update
    torch.testing.assert_close(p.detach(), expected)


def test_global_batches_cover_each_epoch_once():
    seen = np.concatenate([global_batch_indices(s, 7, 20, seed=1) for s in range(20)])  # 140 draws = 7 epochs
    for epoch in range(7):
        assert sorted(seen[epoch * 20 : (epoch + 1) * 20]) == list(range(20))


# ---------------------------------------------------------------------------------------- the loop


def test_loss_decreases_on_a_tiny_corpus(corpus, bpe, tmp_path):
    result = train(tiny(steps=60, lr=5e-3, log_every=10, model_overrides=TINY_MODEL), corpus, bpe, tmp_path, progress=False)
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < losses[0] - 0.5
    assert (tmp_path / "final" / "model.safetensors").exists() and (tmp_path / "tokenizer" / "tokenizer.json").exists()
    assert [json.loads(l)["step"] for l in (tmp_path / "log.jsonl").read_text().splitlines()] == list(range(10, 61, 10))


@pytest.mark.parametrize("objective,tok", [("hybrid", "bpe"), ("span", "wordpiece")])
def test_resume_equals_an_uninterrupted_run(corpus, bpe, wordpiece, tmp_path, objective, tok):
    tokenizer = bpe if tok == "bpe" else wordpiece
    cfg = tiny(objective=objective, model_type="ltg-bert" if objective == "span" else "gpt-bert",
               optimizer="lamb", ema=0.9 if objective == "hybrid" else None)
    whole = train(cfg, corpus, tokenizer, tmp_path / "whole", progress=False)
    part = train(cfg, corpus, tokenizer, tmp_path / "part", stop_after=7, progress=False)
    assert part.steps == 7 and part.final_dir is None
    # a kill at step 7 leaves the step-4 checkpoint (save_every=4): drop the one stop_after wrote
    import shutil

    shutil.rmtree(tmp_path / "part" / "checkpoints" / "step_00000007")
    resumed = train(cfg, corpus, tokenizer, tmp_path / "part", progress=False)
    assert resumed.steps == 12
    for (n, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), n
    assert [h["loss"] for h in whole.history] == [h["loss"] for h in resumed.history]
    assert len(list_checkpoints(tmp_path / "part" / "checkpoints")) == 2  # keep_last
    logged = [json.loads(l)["step"] for l in (tmp_path / "part" / "log.jsonl").read_text().splitlines()]
    assert logged == list(range(2, 13, 2))  # steps 5-7 ran twice but are logged once


def test_truncated_checkpoint_is_skipped(corpus, bpe, tmp_path):
    train(tiny(steps=8), corpus, bpe, tmp_path, progress=False)
    newest = list_checkpoints(tmp_path / "checkpoints")[-1]
    weights = newest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.warns(UserWarning, match="skipping checkpoint"):
        assert latest_valid_checkpoint(tmp_path / "checkpoints").name == "step_00000004"
    with pytest.warns(UserWarning):
        again = train(tiny(steps=8), corpus, bpe, tmp_path, progress=False)  # resumes from step 4, not the broken 8
    assert again.history[-1]["step"] == 8


def test_token_cache_is_reused(corpus, bpe, tmp_path):
    a = tokenize_corpus(corpus, bpe, tmp_path)
    mtime = a.path.stat().st_mtime_ns
    b = tokenize_corpus(corpus, bpe, tmp_path)
    assert a.path == b.path and b.path.stat().st_mtime_ns == mtime and np.array_equal(a.tokens, b.tokens)
    other = tokenize_corpus(corpus.select(range(10)), bpe, tmp_path)
    assert other.path != a.path
    seg = a.segment(3, 16)
    assert seg[0] == bpe.bos_token_id and len(seg) == 16


def _ddp_worker(rank, world, port, corpus_texts, tok_dir, out_dir):
    from transformers import AutoTokenizer

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    tok = AutoTokenizer.from_pretrained(tok_dir)
    ds = datasets.Dataset.from_dict({"text": corpus_texts})
    cfg = tiny(steps=6, model_overrides=NO_DROPOUT, grad_accumulation=2, batch_size=8)
    train(cfg, ds, tok, out_dir, progress=False)
    torch.distributed.destroy_process_group()


def test_ddp_with_two_gloo_processes_matches_one_process(texts, bpe, tmp_path):
    tok_dir = tmp_path / "tok"
    bpe.save_pretrained(tok_dir)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.multiprocessing.spawn(_ddp_worker, args=(2, port, texts, str(tok_dir), str(tmp_path / "ddp")), nprocs=2, join=True)
    single = train(tiny(steps=6, model_overrides=NO_DROPOUT, grad_accumulation=2, batch_size=8),
                   datasets.Dataset.from_dict({"text": texts}), bpe, tmp_path / "single", progress=False)
    ddp = [json.loads(l)["loss"] for l in (tmp_path / "ddp" / "log.jsonl").read_text().splitlines()]
    np.testing.assert_allclose(ddp, [h["loss"] for h in single.history], rtol=1e-4)


# ------------------------------------------------------------------------------ callbacks and hooks


def test_evaluation_callback_and_plot(corpus, bpe, tmp_path):
    from babybias.evaluate import BLiMP

    cb = EvaluationCallback(bpe, [BLiMP(subset="babylm_filtered")], tmp_path / "metrics.jsonl", every=4, limit=2)
    train(tiny(steps=10), corpus, bpe, tmp_path / "run", callbacks=[cb], progress=False)
    steps = [json.loads(l)["step"] for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [4, 8, 10]
    fig = plot_trajectories(tmp_path / "metrics.jsonl", ["blimp/overall"], out=tmp_path / "traj.png")
    assert (tmp_path / "traj.png").stat().st_size > 1000 and fig.axes[0].get_lines()


def test_gender_equalizing_loss(bpe, corpus, tmp_path):
    hook = GenderEqualizingLoss(bpe, weight=2.0)
    logits = torch.zeros(3, len(bpe))
    assert hook(logits, torch.zeros(3, dtype=torch.long)).item() == 0.0  # equal probabilities: no penalty
    m, f = int(hook.male[0]), int(hook.female[0])
    logits[0, m] = math.log(4.0)  # one row: p(m)/p(f) = 4 for the first pair only
    expected = 2.0 * math.log(4.0) / len(hook.male)
    assert hook(logits, torch.zeros(3, dtype=torch.long)).item() == pytest.approx(expected, rel=1e-5)
    train(tiny(steps=4), corpus, bpe, tmp_path, loss_hooks=[hook], progress=False)  # plugs into the loop


# ------------------------------------------------------------------ resume: tokenizer and metrics


def _tree(path):
    return {p.relative_to(path): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("other", ["smaller", "same_size"])
def test_another_tokenizer_is_refused_before_anything_is_written(corpus, texts, bpe, tmp_path, other):
    train(tiny(steps=4), corpus, bpe, tmp_path, progress=False)
    before = _tree(tmp_path)
    if other == "smaller":  # used to overwrite tokenizer/ and then fail loading the checkpoint
        wrong = train_tokenizer(texts, vocab_size=400, kind="bpe", min_frequency=2)
    else:  # same size, other merges and ids: used to resume silently with ids that mean other tokens
        wrong = train_tokenizer(texts[: len(texts) // 2], vocab_size=500, kind="bpe", min_frequency=2)
        assert len(wrong) == len(bpe) and wrong.get_vocab() != bpe.get_vocab()
    for resume in (True, False):
        with pytest.raises(ValueError, match="tokenizer"):
            train(tiny(steps=8), corpus, wrong, tmp_path, resume=resume, progress=False)
        assert _tree(tmp_path) == before  # the run's tokenizer, logs and checkpoints are untouched


def test_checkpoint_of_another_tokenizer_is_refused(corpus, texts, bpe, tmp_path):
    train(tiny(steps=4), corpus, bpe, tmp_path, progress=False)
    import shutil

    shutil.rmtree(tmp_path / "tokenizer")  # e.g. a run from before the tokenizer was saved
    wrong = train_tokenizer(texts[: len(texts) // 2], vocab_size=500, kind="bpe", min_frequency=2)
    with pytest.raises(ValueError, match="step_00000004 was trained with another tokenizer"):
        train(tiny(steps=8), corpus, wrong, tmp_path, progress=False)
    assert not (tmp_path / "tokenizer").exists()


def test_model_vocab_smaller_than_the_tokenizer_is_refused_up_front(corpus, bpe, tmp_path):
    cfg = tiny(model_overrides={**TINY_MODEL, "vocab_size": 100})
    with pytest.raises(ValueError, match=r"tokenizer has 500 ids .*model_overrides\['vocab_size'\] is 100"):
        train(cfg, corpus, bpe, tmp_path / "run", progress=False)  # used to raise IndexError mid-step
    assert not (tmp_path / "run").exists()
    train(tiny(steps=2, model_overrides={**TINY_MODEL, "vocab_size": 512}), corpus, bpe, tmp_path / "padded", progress=False)


def test_trained_model_records_its_tokenizer(corpus, texts, bpe, tmp_path):
    from transformers import AutoTokenizer

    from babybias.evaluate import make_scorer
    from babybias.models import GptBertForCausalLM

    train(tiny(steps=2), corpus, bpe, tmp_path, progress=False)
    model = GptBertForCausalLM.from_pretrained(tmp_path / "final")
    assert model.config.babybias_tokenizer["size"] == 500
    make_scorer(model, AutoTokenizer.from_pretrained(tmp_path / "final"))  # its own tokenizer: accepted
    wrong = train_tokenizer(texts[: len(texts) // 2], vocab_size=500, kind="bpe", min_frequency=2)
    with pytest.raises(ValueError, match="trained with a tokenizer of 500 ids"):
        make_scorer(model, wrong)


def test_restart_without_a_checkpoint_drops_the_old_log_lines(corpus, bpe, tmp_path):
    import shutil

    train(tiny(steps=8), corpus, bpe, tmp_path, stop_after=3, progress=False)
    shutil.rmtree(tmp_path / "checkpoints")  # killed at step 3, before the first checkpoint (step 4)
    train(tiny(steps=8), corpus, bpe, tmp_path, progress=False)
    logged = [json.loads(l)["step"] for l in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert logged == [2, 4, 6, 8]


def _evaluating(bpe, path):
    from babybias.evaluate import BLiMP

    return EvaluationCallback(bpe, [BLiMP(subset="babylm_filtered")], path, every=2, limit=2, kind="mlm")


@pytest.fixture(scope="session")  # session: built once per worker, even when pytest -n interleaves other files
def whole_evaluated_run(corpus, bpe, tmp_path_factory):
    """10 steps without a stop, evaluated every 2 (one run for both resume tests below)."""
    out = tmp_path_factory.mktemp("whole")
    return train(tiny(steps=10), corpus, bpe, out / "run", callbacks=[_evaluating(bpe, out / "whole.jsonl")],
                 progress=False), out / "whole.jsonl"


@pytest.mark.parametrize("gap", [False, True])
def test_resume_with_an_evaluation_callback_records_each_step_once(corpus, bpe, tmp_path, gap, whole_evaluated_run):
    """A kill at step 7 leaves the step-4 checkpoint; metrics of steps 5-7 are dropped and redone. With
    ``gap`` the kill also came between checkpoint 4 and its evaluation: step 4 is evaluated on resume.
    kind="mlm" builds a model per evaluation (drawing random numbers): training must not notice."""
    import shutil

    from babybias.train import read_metrics

    def callback(name):
        return _evaluating(bpe, tmp_path / name)

    cfg = tiny(steps=10)  # dropout 0.1: the RNG matters
    whole, whole_metrics = whole_evaluated_run
    train(cfg, corpus, bpe, tmp_path / "part", callbacks=[callback("part.jsonl")], stop_after=7, progress=False)
    shutil.rmtree(tmp_path / "part" / "checkpoints" / "step_00000007")
    metrics = tmp_path / "part.jsonl"
    if gap:
        metrics.write_text("".join(l + "\n" for l in metrics.read_text().splitlines() if json.loads(l)["step"] != 4))
    resumed = train(cfg, corpus, bpe, tmp_path / "part", callbacks=[callback("part.jsonl")], progress=False)
    assert [r["step"] for r in read_metrics(metrics)] == [2, 4, 6, 8, 10]
    assert read_metrics(metrics) == read_metrics(whole_metrics)
    for (n, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), n
    train(cfg, corpus, bpe, tmp_path / "part", callbacks=[callback("part.jsonl")], progress=False)  # finished: no-op
    assert [r["step"] for r in read_metrics(metrics)] == [2, 4, 6, 8, 10]


def test_lamb_equals_the_per_tensor_maths_over_several_steps():
    """The foreach LAMB is the per-tensor LAMB: moments, bias correction, decoupled decay, trust ratio."""
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(5)), torch.nn.Parameter(torch.zeros(2))]
    reference = [p.detach().clone() for p in params]
    state = [(torch.zeros_like(p), torch.zeros_like(p)) for p in reference]
    opt = Lamb([{"params": params[:2], "weight_decay": 0.1}, {"params": params[2:], "weight_decay": 0.0}],
               lr=0.05, betas=(0.9, 0.98), eps=1e-6)
    for step in range(1, 4):
        grads = [torch.randn_like(p) for p in params]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        opt.step()
        for i, (w, g) in enumerate(zip(reference, grads)):
            m, v = state[i]
            m.mul_(0.9).add_(g, alpha=0.1)
            v.mul_(0.98).addcmul_(g, g, value=0.02)
            update = (m / (1 - 0.9**step)) / ((v / (1 - 0.98**step)).sqrt() + 1e-6)
            if i < 2:
                update = update + 0.1 * w
            w_norm, u_norm = w.norm(), update.norm()
            trust = w_norm / u_norm if w_norm > 0 and u_norm > 0 else torch.tensor(1.0)
            w.sub_(0.05 * trust * update)
    for p, w in zip(params, reference):
        torch.testing.assert_close(p.detach(), w, rtol=1e-6, atol=1e-7)


def test_background_workers_give_the_same_batches_and_run(corpus, bpe, tmp_path):
    """Batches are a pure function of the step: prepared by a forked worker they equal those made in process,
    and a run with a worker logs the same losses as one without."""
    from babybias.train import StepBatches, step_batches
    from babybias.train.loop import _collator

    config = tiny(steps=4, log_every=1)
    data = StepBatches(config, tokenize_corpus(corpus, bpe, tmp_path / "cache"), _collator(config, bpe), total=4)
    here, there = list(step_batches(data, 1, 4, 0, False)), list(step_batches(data, 1, 4, 1, False))
    assert len(here) == len(there) == 3
    for a, b in zip(here, there):
        assert a["n_tokens"] == b["n_tokens"] and a["length"] == b["length"]
        for x, y in zip(a["batches"], b["batches"]):
            assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
    one = train(config, corpus, bpe, tmp_path / "zero", progress=False, data_workers=0)
    two = train(config, corpus, bpe, tmp_path / "one", progress=False, data_workers=1)
    assert [h["loss"] for h in one.history] == [h["loss"] for h in two.history]
    with pytest.raises(ValueError, match="data_workers"):
        train(config, corpus, bpe, tmp_path / "bad", progress=False, data_workers=-1)


@pytest.mark.parametrize("objective", ["span", "hybrid"])
def test_a_bf16_autocast_training_step_on_the_cpu(objective, wordpiece, bpe):
    """A CPU proxy of the GPU path: the loop's loss module under bf16 autocast, backward and a LAMB step,
    for each model family; its loss is within 2 % of fp32's."""
    from babybias.train import LossModule, SpanMaskingCollator, build_model

    tok = wordpiece if objective == "span" else bpe
    config = tiny(model_type="ltg-bert" if objective == "span" else "gpt-bert", objective=objective, optimizer="lamb")
    model = build_model(config, tok)
    masking = MaskingConfig.from_tokenizer(tok)
    collate = SpanMaskingCollator(masking, seed=0) if objective == "span" else HybridCollator(masking, causal_fraction=0.5, seed=0)
    batch = collate(segments(8, 32, len(tok), start=tok.cls_token_id or tok.bos_token_id), np.arange(8), 0)
    module = LossModule(model, config)
    reference = float(module(**batch).detach())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = module(**batch)
    loss.backward()
    Lamb(model.parameters(), lr=1e-3).step()
    value = float(loss.detach())
    assert math.isfinite(value) and abs(value - reference) <= 0.02 * reference
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_an_evaluation_callback_without_benchmarks_fails_when_built(tmp_path):
    # issue 19: evaluate() refuses no benchmarks; the callback says so when it is built, not at its first evaluation
    with pytest.raises(ValueError, match="got no benchmarks"):
        EvaluationCallback(None, [], tmp_path / "eval.jsonl")
