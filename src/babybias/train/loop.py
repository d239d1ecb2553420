"""The training loop: one readable function, ``train(config, corpus, tokenizer, output_dir)``.

Single process on CPU or one GPU, or several processes through ``torch.distributed`` (DDP;
launched with ``torchrun``: NCCL on GPUs, gloo on CPU). Each step takes the global batch of the
step (a pure function of the step and seed), splits it across ranks and accumulation
micro-batches, normalises the loss by the number of labelled tokens in the *global* batch (so
1 process and N processes compute the same gradient), clips, steps the optimizer and the
schedule. Logs go to ``log.jsonl``; checkpoints are atomic and resumable (see
:mod:`babybias.train.checkpoint`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..helpers.io import atomic_write_text
from ..evaluate.scoring import tokenizer_fingerprint
from ..models import GptBertForCausalLM, LtgBertForMaskedLM
from ..models.loading import save_lm
from .checkpoint import latest_valid_checkpoint, load_trainer_state, rng_state, save_checkpoint, set_rng_state
from .collators import CausalCollator, HybridCollator, MaskingConfig, SpanMaskingCollator, TokenMaskingCollator
from .config import TrainConfig
from .cost import recipe_model_config
from .data import global_batch_indices, tokenize_corpus
from .optim import Lamb, lr_factor, parameter_groups

LossHook = Callable[..., torch.Tensor]
"""``hook(logits, targets) -> summed extra loss`` over the labelled positions; a hook with
``needs_hidden = True`` is called ``hook(logits, targets, hidden=, input_ids=, attention_mask=)`` with the
last hidden states of the whole batch (B × T × d), e.g. BERT-ASE's :class:`~babybias.train.AttributeSubspaceLoss`."""

#: dropout fields of the model configs whose dropout ``TrainConfig.hidden_dropout`` / ``attention_dropout`` set.
DROPOUT_FIELDS = {"gpt2": (("resid_pdrop", "embd_pdrop"), ("attn_pdrop",))}
DEFAULT_DROPOUT_FIELDS = (("hidden_dropout_prob",), ("attention_probs_dropout_prob",))


@dataclass
class TrainResult:
    """What a run produced: the trained model (EMA weights when the recipe keeps an EMA), paths, the last logged loss."""

    model: nn.Module
    output_dir: Path
    steps: int
    final_loss: float | None
    log_path: Path
    final_dir: Path | None
    history: list[dict[str, Any]] = field(default_factory=list)


def build_model(config: TrainConfig, tokenizer) -> nn.Module:
    """The recipe's model, sized for ``tokenizer`` (GPT-BERT as its causal-LM class; both modes share weights)."""
    check_vocab(config, tokenizer)
    model_cls = LtgBertForMaskedLM if config.model_type == "ltg-bert" else GptBertForCausalLM
    special = {"pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id or tokenizer.cls_token_id,
               "eos_token_id": tokenizer.eos_token_id or tokenizer.sep_token_id}
    cfg = recipe_model_config(config, len(tokenizer), **{k: v for k, v in special.items() if v is not None})
    # lets scorers refuse another tokenizer later (babybias.evaluate.scoring.check_tokenizer_fits)
    cfg.babybias_tokenizer = {"size": len(tokenizer), "sha256": tokenizer_fingerprint(tokenizer), "embedding_rows": cfg.vocab_size}
    torch.manual_seed(config.seed)
    return model_cls(cfg)


def load_init_model(init_from: Any, config: TrainConfig, tokenizer) -> nn.Module:
    """The model that continued pre-training starts from: a module (used as it is, trained in place), a
    saved babybias folder or any ``transformers`` masked / causal LM folder or hub name (loaded as the
    masked-LM class for ``span``/``token``, the causal-LM class for ``causal`` and ``hybrid``, with the
    recipe's dropout overrides applied to its config). Its embedding must hold every tokenizer id."""
    if isinstance(init_from, nn.Module):
        if config.hidden_dropout is not None or config.attention_dropout is not None:
            raise ValueError("dropout overrides (hidden_dropout / attention_dropout) need init_from as a folder or hub "
                             "name, so the model is built with them; got a module")
        model = init_from
    else:
        from ..models.loading import LMKindError, load_lm, read_config, wrapper_files

        source = init_from
        wrappers = wrapper_files(source)
        if wrappers:
            raise ValueError(f"{source} holds {', '.join(wrappers)}: a saved wrapper (Self-Debias) changes decoding, "
                             "not weights; continue pre-training from the original model")
        cfg = read_config(source)
        hidden_fields, attention_fields = DROPOUT_FIELDS.get(cfg.model_type, DEFAULT_DROPOUT_FIELDS)
        for names, value in ((hidden_fields, config.hidden_dropout), (attention_fields, config.attention_dropout)):
            if value is not None:
                for name in names:
                    if not hasattr(cfg, name):
                        raise ValueError(f"{source}: its config has no {name!r}, so dropout cannot be set")
                    setattr(cfg, name, value)
        if config.objective == "hybrid" and cfg.model_type != "gpt-bert":
            raise ValueError(f"objective 'hybrid' needs a GPT-BERT to start from; {source} is {cfg.model_type!r}")
        kind = "clm" if config.objective in ("causal", "hybrid") else "mlm"
        try:  # a saved debiasing projection comes back attached (and is saved again beside the trained weights)
            model = load_lm(source, kind, config=cfg)
        except LMKindError as err:
            raise ValueError(f"{err.why}: objective {config.objective!r} trains a "
                             f"{'causal' if kind == 'clm' else 'masked'} LM") from None
    if config.objective == "hybrid" and not hasattr(model, "gpt_bert"):
        raise ValueError(f"objective 'hybrid' needs a GPT-BERT to start from, got {type(model).__name__}")
    _check_embeddable(tokenizer, model.get_input_embeddings().num_embeddings,
                      "the model to continue from embeds {rows}: pass the model's own tokenizer")
    return model


def _tied_keys(model: nn.Module) -> set[str]:
    """State-dict keys whose tensor shares storage with an earlier key (not stored by ``save_pretrained``)."""
    seen, tied = {}, set()
    for name, tensor in model.state_dict().items():
        ptr = tensor.data_ptr()
        if ptr in seen and tensor.numel():
            tied.add(name)
        seen.setdefault(ptr, name)
    return tied | {k for k in getattr(model, "_tied_weights_keys", None) or ()}


def _check_embeddable(tokenizer, rows: int, why: str) -> None:
    """Every id the tokenizer produces must have one of the model's ``rows`` embedding rows; ``why`` (with
    ``{rows}``) ends the error message."""
    special = [i for i in tokenizer.all_special_ids if i is not None]
    if len(tokenizer) > rows or any(i >= rows for i in special):
        raise ValueError(f"tokenizer has {len(tokenizer)} ids (largest special id {max(special, default=None)}) but "
                         + why.format(rows=rows))


def check_vocab(config: TrainConfig, tokenizer) -> None:
    """The recipe's model must have an embedding row for every id the tokenizer produces."""
    _check_embeddable(tokenizer, config.model_overrides.get("vocab_size", len(tokenizer)),
                      "TrainConfig.model_overrides['vocab_size'] is {rows}: the model could not embed them")


def _tokenizer_identity(tokenizer) -> dict[str, Any]:
    """The parts of ``tokenizer.json`` that decide the ids (vocab, merges, normalizer, pre-tokenizer, framing)."""
    identity = json.loads(tokenizer.backend_tokenizer.to_str())
    identity.pop("truncation", None)
    identity.pop("padding", None)
    return identity


def _check_run_tokenizer(output_dir: Path, tokenizer, checkpoint: Path | None, rows: int) -> None:
    """Fail, before anything is written, when ``output_dir`` belongs to another tokenizer: the run's saved
    ``tokenizer/`` differs from ``tokenizer``, or the checkpoint to resume was trained with another one."""
    saved = output_dir / "tokenizer"
    if saved.exists():
        from transformers import AutoTokenizer

        try:
            own = AutoTokenizer.from_pretrained(str(saved))
        except Exception as e:  # noqa: BLE001 - any failure to read it is reported with the folder
            raise ValueError(f"cannot read the run's tokenizer {saved} ({e}); it is not overwritten: repair or remove it") from e
        mine, given = _tokenizer_identity(own), _tokenizer_identity(tokenizer)
        if mine != given:
            parts = sorted(k for k in set(mine) | set(given) if mine.get(k) != given.get(k))
            raise ValueError(f"{saved} holds the run's tokenizer ({len(own)} ids) and the given one ({len(tokenizer)} ids) "
                             f"differs in {', '.join(parts)}: pass the run's own tokenizer or a new output_dir")
    if checkpoint is not None:
        cfg = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
        record = cfg.get("babybias_tokenizer") or {}
        if record.get("sha256", tokenizer_fingerprint(tokenizer)) != tokenizer_fingerprint(tokenizer) \
                or record.get("size", len(tokenizer)) != len(tokenizer):
            raise ValueError(f"checkpoint {checkpoint} was trained with another tokenizer ({record.get('size')} ids) than "
                             f"the given one ({len(tokenizer)} ids): pass the run's own tokenizer or a new output_dir")
        if cfg.get("vocab_size", rows) != rows:
            raise ValueError(f"checkpoint {checkpoint} has {cfg['vocab_size']} embedding rows but this recipe and tokenizer "
                             f"({len(tokenizer)} ids) give {rows}: pass the run's own tokenizer and recipe or a new output_dir")


def _save_tokenizer_once(tokenizer, directory: Path) -> None:
    """Save ``tokenizer`` to ``directory`` atomically, unless the run already has one (never overwritten)."""
    if directory.exists():
        return
    tmp = directory.with_name(f".{directory.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer.save_pretrained(tmp)
    os.replace(tmp, directory)


class LossModule(nn.Module):
    """Wraps the model so DDP sees one forward: returns the *summed* loss over labelled tokens.

    ``hybrid`` (GPT-BERT): each row in its mode, the state at t predicting token t+1; ``causal``: the
    model's logits at t for the label at t+1; ``span``/``token``: the logits of the labelled positions
    (babybias models return only those rows; a ``transformers`` model returns all and they are picked).
    """

    def __init__(self, model: nn.Module, config: TrainConfig, hooks: Sequence[LossHook] = ()) -> None:
        super().__init__()
        self.model, self.config, self.hooks = model, config, list(hooks)
        self.needs_hidden = any(getattr(h, "needs_hidden", False) for h in self.hooks)

    def forward(self, input_ids, attention_mask, labels, causal=None) -> torch.Tensor:
        states = []  # (hidden, input_ids, attention_mask) for hooks that read hidden states
        if self.config.objective == "hybrid":
            logits, targets = [], []
            for is_causal in (False, True):
                rows = causal == is_causal  # a host tensor: no device sync to test it
                if not bool(rows.any()):
                    continue
                rows = rows.to(input_ids.device)
                hidden = self.model.gpt_bert(input_ids[rows], attention_mask[rows], causal=is_causal).last_hidden_state
                lab = labels[rows][:, 1:]
                keep = lab != -100
                logits.append(self.model.head(hidden[:, :-1][keep]))  # the state at t predicts token t+1
                targets.append(lab[keep])
                states.append((hidden, input_ids[rows], attention_mask[rows]))
            logits, targets = torch.cat(logits), torch.cat(targets)
        elif self.config.objective == "causal":
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=self.needs_hidden)
            lab = labels[:, 1:]
            keep = lab != -100
            logits, targets = out.logits[:, :-1][keep], lab[keep]
            if self.needs_hidden:
                states.append((out.hidden_states[-1], input_ids, attention_mask))
        else:
            # babybias models run their head on the labelled positions only when given labels; a transformers
            # model would compute its own loss over every position, so it gets none and its rows are picked here
            ours = getattr(self.model.config, "model_type", None) in ("ltg-bert", "gpt-bert")
            out = self.model(input_ids, attention_mask=attention_mask, labels=labels if ours else None,
                             output_hidden_states=self.needs_hidden)
            logits = out.logits
            if logits.shape[:2] == labels.shape:  # all positions: keep the labelled ones
                logits = logits[labels != -100]
            targets = labels[labels != -100]
            if self.needs_hidden:
                states.append((out.hidden_states[-1], input_ids, attention_mask))
        logits = logits.float()
        loss = F.cross_entropy(logits, targets, reduction="sum")
        if self.config.z_loss:
            loss = loss + self.config.z_loss * torch.logsumexp(logits, dim=-1).pow(2).sum()
        for hook in self.hooks:
            if getattr(hook, "needs_hidden", False):
                for hidden, ids, mask in states:
                    loss = loss + hook(logits, targets, hidden=hidden, input_ids=ids, attention_mask=mask)
            else:
                loss = loss + hook(logits, targets)
        return loss


def _collator(config: TrainConfig, tokenizer):
    if config.objective == "causal":
        return CausalCollator(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
    masking = MaskingConfig.from_tokenizer(tokenizer)
    if config.objective == "span":
        return SpanMaskingCollator(masking, rate=config.mask_rate, seed=config.seed)
    if config.objective == "token":
        return TokenMaskingCollator(masking, rate=config.mask_rate, seed=config.seed)
    return HybridCollator(masking, causal_fraction=config.causal_fraction, rate=config.mask_rate, seed=config.seed)


class _Reporters:
    """Optional TensorBoard / Weights & Biases logging next to log.jsonl (rank 0 only)."""

    def __init__(self, names: Sequence[str], output_dir: Path, config: TrainConfig) -> None:
        self.writers = []
        if "tensorboard" in names:
            from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package

            self.writers.append(("tb", SummaryWriter(str(output_dir / "tensorboard"))))
        if "wandb" in names:
            import wandb

            self.writers.append(("wandb", wandb.init(project="babybias", name=config.name, config=config.to_dict(),
                                                     dir=str(output_dir), resume="allow")))

    def log(self, record: dict[str, Any]) -> None:
        for kind, writer in self.writers:
            if kind == "tb":
                for key in ("loss", "lr", "tokens_per_second"):
                    writer.add_scalar(f"train/{key}", record[key], record["step"])
            else:
                writer.log({f"train/{k}": v for k, v in record.items() if k != "step"}, step=record["step"])

    def close(self) -> None:
        for kind, writer in self.writers:
            writer.close() if kind == "tb" else writer.finish()


def _distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device); initialises the process group under torchrun (NCCL on GPUs, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    launched = "TORCHELASTIC_RUN_ID" in os.environ  # torchrun: a process group (and DDP) even for one process
    if (world > 1 or launched) and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    return rank, world, device


def _all_reduce(value: torch.Tensor) -> torch.Tensor:
    if dist.is_initialized():
        dist.all_reduce(value)
    return value


class StepBatches(torch.utils.data.Dataset):
    """The micro-batches of one rank at each step, a pure function of the step (so background workers, a
    resumed run and another number of ranks all see the same batches): item ``step`` is
    ``{"length", "batch_size", "n_tokens", "batches"}``, ``n_tokens`` the real tokens of this rank."""

    def __init__(self, config: TrainConfig, stream, collate, total: int, rank: int = 0, world: int = 1) -> None:
        self.config, self.stream, self.collate, self.total, self.rank, self.world = config, stream, collate, total, rank, world

    def __len__(self) -> int:
        return self.total

    def __getitem__(self, step: int) -> dict[str, Any]:
        config = self.config
        length, batch_size = config.phase(step, self.total)
        indices = global_batch_indices(step, batch_size, self.stream.num_segments(length), config.seed + length)
        micro = np.array_split(indices[self.rank::self.world], config.grad_accumulation)
        rate = config.mask_rate if config.mask_rate_end is None else \
            config.mask_rate + (config.mask_rate_end - config.mask_rate) * step / max(1, self.total - 1)
        batches = [self.collate([self.stream.segment(i, length) for i in part], part, step, rate) for part in micro]
        n_tokens = sum(int(b["attention_mask"].sum()) for b in batches)
        return {"length": length, "batch_size": batch_size, "n_tokens": n_tokens, "batches": batches}


def step_batches(dataset: StepBatches, start: int, end: int, workers: int, pin_memory: bool):
    """Steps ``start`` … ``end - 1`` of ``dataset``, prepared ahead by ``workers`` forked processes (0: in
    this process) into pinned memory when ``pin_memory``, so a GPU never waits for the host's masking."""
    if workers == 0:
        return (dataset[step] for step in range(start, end))
    return torch.utils.data.DataLoader(dataset, batch_size=None, sampler=range(start, end), num_workers=workers,
                                       pin_memory=pin_memory, prefetch_factor=4, multiprocessing_context="fork",
                                       generator=torch.Generator())  # its own: never draws from the dropout RNG


def _call(callbacks: Sequence[Any], hook: str, step: int, model: nn.Module) -> None:
    """Call ``hook(step, model)`` on the callbacks that have it, leaving the RNG states as they were
    (an evaluation that draws random numbers must not change the training that follows)."""
    hooked = [cb for cb in callbacks if hasattr(cb, hook)]
    if not hooked:
        return
    saved = rng_state()
    for cb in hooked:
        getattr(cb, hook)(step, model)
    set_rng_state(saved)


@contextlib.contextmanager
def _denormals_flushed_on_cpu():
    """Flush denormal floats to zero while training on the CPU, where they accumulate in small models' weights and
    optimizer states and slowed training ~1.7x after a few hundred steps; switched off again on the way out, also when
    training raises (the flag is process-wide)."""
    on_cpu = not torch.cuda.is_available()  # the device _distributed picks
    if on_cpu:
        torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if on_cpu:
            torch.set_flush_denormal(False)


@_denormals_flushed_on_cpu()
def train(
    config: TrainConfig,
    corpus,
    tokenizer,
    output_dir: str | os.PathLike,
    *,
    resume: bool = True,
    callbacks: Sequence[Any] = (),
    loss_hooks: Sequence[LossHook] = (),
    stop_after: int | None = None,
    progress: bool = True,
    init_from: Any = None,
    data_workers: int | None = None,
) -> TrainResult:
    """Train ``config`` on ``corpus`` (a ``datasets.Dataset`` with a ``text`` column).

    ``resume=True`` continues from the newest valid checkpoint in ``output_dir/checkpoints``.
    ``stop_after`` ends the run after that many steps of this call (as if it had been killed).
    ``callbacks`` get ``on_resume(step, model)`` (once, before the first step; ``step`` is 0 on a fresh
    start), ``on_step_end(step, model)`` and ``on_train_end(step, model)``, on rank 0, RNG states preserved;
    a tokenizer that differs from the run's saved ``tokenizer/`` (or from the checkpoint's) is refused
    before anything is written, and the saved one is never overwritten;
    ``loss_hooks`` map (logits, targets) of the labelled positions to a summed extra loss (a hook with
    ``needs_hidden`` also gets the batch's last hidden states).
    ``init_from`` continues pre-training of an existing model (:func:`load_init_model`: a module, a saved
    babybias folder, a released BabyLM or a ``transformers`` BERT/RoBERTa/GPT-2) instead of a fresh one
    (e.g. with the ``bias_bench_cpt`` recipe); resuming rebuilds it from ``init_from`` and then loads the
    checkpoint, so pass the same ``init_from`` again.
    ``data_workers`` processes prepare the batches ahead (None: 2 on CUDA, 0 on the CPU, where the
    cores are busy training); the batches are the same for any number.
    """
    if data_workers is not None and (isinstance(data_workers, bool) or not isinstance(data_workers, int) or data_workers < 0):
        raise ValueError(f"data_workers must be None or an integer >= 0, got {data_workers!r}")
    rank, world, device = _distributed()  # on the CPU denormals are flushed to zero (_denormals_flushed_on_cpu)
    output_dir = Path(output_dir)
    # everything that can refuse this run is checked before anything is written
    if init_from is None:
        check_vocab(config, tokenizer)
        model = None
    else:
        model = load_init_model(init_from, config, tokenizer)
    checkpoint = latest_valid_checkpoint(output_dir / "checkpoints") if resume else None
    rows = (config.model_overrides.get("vocab_size", len(tokenizer)) if model is None
            else model.get_input_embeddings().num_embeddings)
    _check_run_tokenizer(output_dir, tokenizer, checkpoint, rows)
    if rank == 0:
        output_dir.mkdir(parents=True, exist_ok=True)
        _save_tokenizer_once(tokenizer, output_dir / "tokenizer")
    stream = tokenize_corpus(corpus, tokenizer, output_dir / "data_cache", num_proc=config.num_proc)
    total = config.steps or math.ceil(config.epochs * stream.num_segments(config.seq_length) / config.batch_size)
    warmup = int(config.warmup * total)

    if model is None:
        model = build_model(config, tokenizer)  # seeds torch with config.seed before building
    else:
        torch.manual_seed(config.seed)  # dropout draws from the global generator: the same start as a fresh run's
    model = model.to(device)
    optimizer_cls = Lamb if config.optimizer == "lamb" else torch.optim.AdamW
    optimizer = optimizer_cls(parameter_groups(model, config.weight_decay), lr=config.lr, betas=config.betas, eps=config.eps)
    ema = {n: p.detach().clone() for n, p in model.named_parameters()} if config.ema else None
    start_step, history = 0, []
    if checkpoint is not None:
        from safetensors.torch import load_file

        missing, unexpected = model.load_state_dict(load_file(str(checkpoint / "model.safetensors"), device=str(device)),
                                                    strict=False)
        if unexpected or set(missing) - _tied_keys(model):  # tied weights (the decoder) are not stored
            raise RuntimeError(f"{checkpoint} does not fit this recipe's model: missing {missing}, unexpected {unexpected}")
        model.tie_weights()
        state = load_trainer_state(checkpoint)
        optimizer.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"])
        start_step, history = state["step"], state.get("history", [])
        if ema is not None:
            ema = {k: v.to(device) for k, v in state["ema"].items()}
    if rank == 0:
        # steps logged after the checkpoint (or, starting afresh, by an earlier attempt) run again: drop their lines
        atomic_write_text(output_dir / "log.jsonl", "".join(json.dumps(r) + "\n" for r in history))
        _call(callbacks, "on_resume", start_step, model)
    module = LossModule(model, config, loss_hooks)
    backend = config.compile_backend()
    step_module = torch.compile(module, backend=backend) if backend else module
    if dist.is_initialized():
        step_module = nn.parallel.DistributedDataParallel(step_module, device_ids=[device.index] if device.type == "cuda" else None)
    collate = _collator(config, tokenizer)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if config.bf16 and device.type == "cuda" else contextlib.nullcontext()
    log_path = output_dir / "log.jsonl"
    reporters = _Reporters(config.report_to if rank == 0 else (), output_dir, config)
    end = total if stop_after is None else min(total, start_step + stop_after)
    bar = tqdm(total=total, initial=start_step, desc=config.name, disable=not progress or rank != 0)
    model.train()
    tokens_seen, t0 = 0, time.perf_counter()

    if ema is not None:  # one foreach update over all tensors each step
        params = dict(model.named_parameters())
        ema_tensors, ema_params = list(ema.values()), [params[n].detach() for n in ema]
    workers = (2 if device.type == "cuda" else 0) if data_workers is None else data_workers
    data = step_batches(StepBatches(config, stream, collate, total, rank, world), start_step, end, workers,
                        pin_memory=device.type == "cuda")
    for step, prepared in zip(range(start_step, end), data):
        # the global batch of this step, split across ranks, then into accumulation micro-batches (StepBatches)
        length, batch_size, n_tokens = prepared["length"], prepared["batch_size"], prepared["n_tokens"]
        batches = [{k: v if k == "causal" else v.to(device, non_blocking=True) for k, v in b.items()}
                   for b in prepared["batches"]]
        count = _all_reduce(sum((b["labels"] != -100).sum() for b in batches).float())
        lr = config.lr * lr_factor(step, total, warmup, config.decay, config.min_lr_ratio)
        for group in optimizer.param_groups:
            group["lr"] = lr

        step_loss = torch.zeros((), device=device)
        for k, b in enumerate(batches):
            sync = contextlib.nullcontext() if world == 1 or k == len(batches) - 1 else step_module.no_sync()
            with sync, autocast:
                loss_sum = step_module(**b)
            (loss_sum * world / count.clamp(min=1)).backward()
            step_loss += loss_sum.detach()
        if config.clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            with torch.no_grad():
                torch._foreach_lerp_(ema_tensors, ema_params, 1 - config.ema)
        tokens_seen += n_tokens * world
        bar.update(1)

        if (step + 1) % config.log_every == 0 or step + 1 == end:
            # one host sync per logging interval: the mean loss per labelled token of the last step
            loss_value = float(_all_reduce(step_loss.clone()) / count.clamp(min=1))
            elapsed = time.perf_counter() - t0
            record = {"step": step + 1, "loss": loss_value, "lr": lr, "seq_length": length, "batch_size": batch_size,
                      "tokens_per_second": tokens_seen / max(elapsed, 1e-9), "time": time.time()}
            history.append(record)
            tokens_seen, t0 = 0, time.perf_counter()
            if rank == 0:
                with open(log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(record) + "\n")
                reporters.log(record)
                bar.set_postfix(loss=f"{loss_value:.3f}")
        if (step + 1) % config.save_every == 0 or step + 1 == end:
            if rank == 0:
                state = {"optimizer": optimizer.state_dict(), "step": step + 1, "rng": rng_state(), "ema": ema,
                         "config": config.to_dict(), "history": history}
                save_checkpoint(output_dir / "checkpoints", step + 1, model, state, config.keep_last)
            if dist.is_initialized():
                dist.barrier()
        if rank == 0:
            _call(callbacks, "on_step_end", step + 1, model)
    del data  # ends the workers
    bar.close()
    reporters.close()

    final_dir = None
    finished = end == total
    if finished and ema is not None:
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(ema[n])
    if finished and rank == 0:
        final_dir = output_dir / "final"
        save_lm(model, final_dir, tokenizer)  # a debiased model trained further keeps its projection beside the weights
        _call(callbacks, "on_train_end", end, model)
    model.eval()
    return TrainResult(model, output_dir, end, history[-1]["loss"] if history else None, log_path, final_dir, history)
