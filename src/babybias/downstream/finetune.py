"""Fine-tune any pre-trained encoder for sequence classification with ``transformers``' Trainer.

One way to fine-tune: :func:`finetune` builds the classifier (:func:`load_classifier`: the
pre-trained trunk's weights, a new seeded classifier head, or the whole model randomly initialised),
tokenizes with ``datasets.map``, and runs ``transformers.Trainer``, which brings seeds, bf16 and
DDP under ``torchrun`` on GPUs, and resumable checkpoints (a re-run resumes from the newest
complete ``checkpoint-N``, with its optimizer, schedule and RNG states). The finished model is
written to ``final/`` beside a ``done.json`` written last.

A model that carries a babybias debiasing projection (a folder saved by
:func:`babybias.debias.save_debiased`, or a model with one attached) keeps it: the projection is
re-attached at the classifier's input, the last hidden states it was fitted on
(:func:`classifier_input`), and stays fixed while the rest is fine-tuned.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..helpers.registry import Registry

__all__ = ["FineTuneConfig", "FINETUNE_RECIPES", "finetune_recipe", "FineTuneResult", "load_classifier",
           "classifier_input", "finetune", "predict_proba", "load_finetuned"]


@dataclass(frozen=True)
class FineTuneConfig:
    """Fine-tuning hyper-parameters (validated at construction). ``bf16=None``: on where CUDA supports it."""

    epochs: float = 3.0
    learning_rate: float = 2e-5
    batch_size: int = 32
    max_length: int = 256
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    save_steps: int = 500
    logging_steps: int = 50
    eval_batch_size: int = 64
    bf16: bool | None = None
    max_steps: int = -1

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_length", "save_steps", "logging_steps", "eval_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"FineTuneConfig.{name} must be an integer >= 1, got {value!r}")
        if not (self.epochs > 0):
            raise ValueError(f"FineTuneConfig.epochs must be > 0, got {self.epochs!r}")
        if not (self.learning_rate > 0):
            raise ValueError(f"FineTuneConfig.learning_rate must be > 0, got {self.learning_rate!r}")
        if not (0 <= self.warmup_ratio < 1):
            raise ValueError(f"FineTuneConfig.warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if self.weight_decay < 0:
            raise ValueError(f"FineTuneConfig.weight_decay must be >= 0, got {self.weight_decay!r}")
        if not isinstance(self.max_steps, int) or (self.max_steps < 1 and self.max_steps != -1):
            raise ValueError(f"FineTuneConfig.max_steps must be -1 (use epochs) or >= 1, got {self.max_steps!r}")

    def to_dict(self) -> dict:
        return asdict(self)


#: recipe name → :class:`FineTuneConfig` (a helpers.Registry: ``FINETUNE_RECIPES.register(config, name)`` adds one)
FINETUNE_RECIPES: Registry[FineTuneConfig] = Registry("fine-tuning recipe", kind=FineTuneConfig, entries={
    # CPU-sized: a tiny model on a few hundred examples in seconds (tests, the example)
    "tiny": FineTuneConfig(epochs=15.0, learning_rate=2e-3, batch_size=16, max_length=64, warmup_ratio=0.0,
                           save_steps=50, logging_steps=10, eval_batch_size=64),
    # GPU-sized: the usual BERT-base fine-tune (Devlin et al. 2019's range; Steed et al. fine-tune RoBERTa alike)
    "base": FineTuneConfig(epochs=3.0, learning_rate=2e-5, batch_size=32, max_length=256, warmup_ratio=0.06,
                           save_steps=500, logging_steps=50, eval_batch_size=128),
})


def finetune_recipe(name: str, **overrides) -> FineTuneConfig:
    """A named recipe (``tiny`` for CPUs and tests, ``base`` for GPUs), with fields overridden."""
    if name not in FINETUNE_RECIPES:
        raise ValueError(f"unknown fine-tuning recipe {name!r}; known: {sorted(FINETUNE_RECIPES)}")
    return replace(FINETUNE_RECIPES[name], **overrides)


@dataclass
class FineTuneResult:
    """The fine-tuned classifier, its tokenizer and folder, and the Trainer's log history."""

    model: nn.Module
    tokenizer: Any
    output_dir: Path
    history: list[dict] = field(default_factory=list)
    resumed_from: str | None = None


# --------------------------------------------------------------------------- building the classifier


def classifier_input(model: nn.Module) -> str:
    """The (dotted) name of the module whose input is the last hidden states the classifier reads:
    ``head`` (LTG-BERT, GPT-BERT), ``classifier`` (RoBERTa: its head takes the whole sequence),
    ``<base>.pooler`` (BERT), ``pre_classifier`` (DistilBERT)."""
    if getattr(model.config, "model_type", "") in ("ltg-bert", "gpt-bert"):
        return "head"
    if model.config.model_type in ("roberta", "xlm-roberta", "camembert", "deberta", "deberta-v2", "electra"):
        return "classifier"
    prefix = getattr(model, "base_model_prefix", "")
    if prefix and getattr(getattr(model, prefix, None), "pooler", None) is not None:
        return f"{prefix}.pooler"
    if hasattr(model, "pre_classifier"):
        return "pre_classifier"
    raise ValueError(f"cannot tell where {type(model).__name__} reads its last hidden states; "
                     "a debiasing projection cannot be carried into its classifier")


def _trunk_state(pretrained: nn.Module) -> dict[str, torch.Tensor]:
    base = getattr(pretrained, "base_model", pretrained)
    return base.state_dict()


def _projection_of_source(source: Any) -> tuple[np.ndarray | None, dict | None]:
    """``(projection, record)`` the source carries (in memory, or saved in its folder), else ``(None, None)``."""
    from ..debias.self_debias import INFO_FILE as SELF_DEBIAS_FILE
    from ..models.projection import projection_of, projection_record, read_projection

    if isinstance(source, nn.Module):
        p = projection_of(source)
        return (p, projection_record(source)) if p is not None else (None, None)
    path = Path(str(source))
    if (path / SELF_DEBIAS_FILE).exists():
        raise ValueError(f"{path} is a Self-Debiased LM: Self-Debias changes decoding, not the representations a "
                         "classifier is fine-tuned from; use Sent-Debias, INLP or an intra-model method upstream")
    return read_projection(path) or (None, None)


def _pretrained(path: str, fallback) -> nn.Module:
    """The saved model as the class its ``config.json`` names (so an MLM checkpoint loads without
    "unexpected key" reports for its head), else ``fallback`` (``AutoModel``: the trunk)."""
    from ..models.loading import LoadError, load_pretrained, model_class, read_config

    config = read_config(path)
    try:
        cls = model_class(config)
    except LoadError:
        cls = fallback
    return load_pretrained(path, cls, config=config)


def load_classifier(source: Any, num_labels: int, *, tokenizer=None, pretrained: bool = True, seed: int = 0,
                    id2label: dict[int, str] | None = None) -> tuple[nn.Module, Any]:
    """``(classifier, tokenizer)`` from a pre-trained model: an ``nn.Module`` (a masked/causal LM or an
    encoder), a local folder or a hub id. The trunk's weights are copied; the classifier head is new
    (seeded). ``pretrained=False`` keeps the architecture but initialises every weight at random
    ("no pre-training"). A debiasing projection on the source is re-attached at the classifier input."""
    from transformers import AutoModel, AutoModelForSequenceClassification, set_seed

    from ..models.loading import load_tokenizer, read_config
    from ..models.projection import attach_projection

    projection, info = _projection_of_source(source)  # a Self-Debias folder is refused before anything loads
    if isinstance(source, nn.Module):
        config = type(source.config).from_dict(source.config.to_dict())
        if tokenizer is None:
            raise ValueError("an in-memory model needs its tokenizer: pass tokenizer=")
    else:
        config = read_config(str(source))
        if tokenizer is None:
            tokenizer = load_tokenizer(str(source), what="model folder")
    config.num_labels = int(num_labels)
    config.architectures = None
    if id2label:
        config.id2label = {int(k): str(v) for k, v in id2label.items()}
        config.label2id = {v: k for k, v in config.id2label.items()}
    if getattr(config, "pad_token_id", None) is None and tokenizer.pad_token_id is not None:
        config.pad_token_id = tokenizer.pad_token_id
    set_seed(seed)
    model = AutoModelForSequenceClassification.from_config(config)
    if pretrained:
        trunk = source if isinstance(source, nn.Module) else _pretrained(str(source), AutoModel)
        state = _trunk_state(trunk)
        missing, unexpected = model.base_model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("pooler.")]
        unexpected = [k for k in unexpected if not k.startswith("pooler.")]
        if missing or unexpected:
            raise ValueError(f"the pre-trained weights do not fit {type(model).__name__}'s trunk: "
                             f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    if projection is not None:
        steps = (info or {}).get("steps") or [{}]
        model = attach_projection(model, projection, head=classifier_input(model), info=steps[-1], inplace=True)
    return model, tokenizer


# --------------------------------------------------------------------------- training


def _tokenized(frame: pd.DataFrame, tokenizer, max_length: int):
    import datasets

    ds = datasets.Dataset.from_dict({"text": frame["text"].tolist(), "label": [int(x) for x in frame["label"]]})
    return ds.map(lambda b: tokenizer(b["text"], truncation=True, max_length=max_length), batched=True,
                  remove_columns=["text"])


def _complete_checkpoints(folder: Path) -> list[Path]:
    """``checkpoint-N`` folders that hold a ``trainer_state.json`` (written after the weights), oldest first."""
    if not folder.exists():
        return []
    found = []
    for p in folder.glob("checkpoint-*"):
        suffix = p.name.removeprefix("checkpoint-")
        if suffix.isdigit() and (p / "trainer_state.json").exists():
            found.append((int(suffix), p))
    return [p for _, p in sorted(found)]


def _save_final(model: nn.Module, tokenizer, final: Path) -> None:
    from ..models.loading import save_lm

    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_lm(model, tmp, tokenizer)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


def finetune(model: nn.Module, tokenizer, train: pd.DataFrame, output_dir: str | Path,
             config: FineTuneConfig | str = "tiny", *, seed: int = 0, callbacks: Sequence[Any] = ()) -> FineTuneResult:
    """Fine-tune ``model`` (from :func:`load_classifier`) on ``train`` (``text``, integer ``label``) into
    ``output_dir``; a re-run resumes from the newest complete checkpoint, and a finished run is loaded."""
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback

    from ..helpers.io import atomic_write_text

    config = finetune_recipe(config) if isinstance(config, str) else config
    out = Path(output_dir)
    done = out / "done.json"
    if done.exists():
        record = json.loads(done.read_text())
        finished, tok = load_finetuned(out / "final")
        return FineTuneResult(finished, tok, out, record.get("history", []), record.get("resumed_from"))
    if len(train) == 0:
        raise ValueError("the fine-tuning data is empty")
    cuda = torch.cuda.is_available()
    bf16 = (cuda and torch.cuda.is_bf16_supported()) if config.bf16 is None else bool(config.bf16)
    args = TrainingArguments(
        output_dir=str(out / "checkpoints"), num_train_epochs=config.epochs, max_steps=config.max_steps,
        learning_rate=config.learning_rate, per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size, weight_decay=config.weight_decay,
        warmup_steps=config.warmup_ratio, lr_scheduler_type="linear", seed=seed, data_seed=seed, bf16=bf16,
        save_strategy="steps", save_steps=config.save_steps, save_total_limit=2, logging_steps=config.logging_steps,
        report_to="none", use_cpu=not cuda, dataloader_num_workers=0, disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=_tokenized(train, tokenizer, config.max_length),
                      data_collator=DataCollatorWithPadding(tokenizer), callbacks=list(callbacks))
    trainer.remove_callback(PrinterCallback)  # the log history is kept in done.json, not printed
    checkpoints = _complete_checkpoints(out / "checkpoints")
    resume = str(checkpoints[-1]) if checkpoints else None
    trainer.train(resume_from_checkpoint=resume)
    if trainer.args.process_index == 0:
        _save_final(trainer.model, tokenizer, out / "final")
        history = [dict(h) for h in trainer.state.log_history]
        atomic_write_text(done, json.dumps({"config": config.to_dict(), "seed": seed, "steps": trainer.state.global_step,
                                            "resumed_from": resume, "history": history}, indent=1, default=float))
    return FineTuneResult(trainer.model, tokenizer, out, [dict(h) for h in trainer.state.log_history], resume)


def load_finetuned(path: str | Path) -> tuple[nn.Module, Any]:
    """A classifier written by :func:`finetune` (``final/``), with its projection if it had one."""
    from transformers import AutoModelForSequenceClassification

    from ..models.loading import load_pretrained, load_tokenizer

    path = Path(path)
    return load_pretrained(path, AutoModelForSequenceClassification), load_tokenizer(path, what="classifier folder")


@torch.no_grad()
def predict_proba(model: nn.Module, tokenizer, texts: Sequence[str], *, batch_size: int = 64, max_length: int = 256,
                  device: str | torch.device | None = None) -> np.ndarray:
    """n × k class probabilities (softmax of the logits), batches sorted by length for speed."""
    if not len(texts):
        raise ValueError("texts is empty")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    enc = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    order = np.argsort([len(e) for e in enc], kind="stable")
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float64)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        batch = tokenizer.pad({"input_ids": [enc[i] for i in idx]}, return_tensors="pt")
        logits = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)).logits
        out[idx] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    model.train(was_training)
    return out
