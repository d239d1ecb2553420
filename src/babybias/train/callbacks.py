"""Evaluation during training (bias and ability trajectories), a plotting helper, and loss hooks
for intra-model debiasing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from ..corpus.wordlists import WordPairs
from ..helpers.figures import new_figure, save_figure


class EvaluationCallback:
    """Run :func:`babybias.evaluate.evaluate` every ``every`` steps and at the end; append
    ``{"step", "scores"}`` lines to ``path`` (JSONL). GPT-BERT models are scored in ``kind`` mode
    ("clm" by default: its causal view; "mlm" builds the masked view from the same weights).

    When :func:`~babybias.train.train` resumes, lines of steps after the checkpoint (they will be
    evaluated again) are dropped, like ``log.jsonl``'s, so every step appears once; a fresh start
    drops them all, so give every run its own ``path``."""

    def __init__(self, tokenizer, benchmarks: Sequence, path: str | os.PathLike, every: int = 100, limit: int | None = None,
                 kind: str | None = None, batch_size: int = 256) -> None:
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"EvaluationCallback every must be an integer >= 1, got {every!r}")
        self.tokenizer, self.benchmarks, self.path = tokenizer, list(benchmarks), Path(path)
        if not self.benchmarks:
            raise ValueError("EvaluationCallback got no benchmarks: give names such as ['crows_pairs', 'blimp_filtered']")
        self.every, self.limit, self.kind, self.batch_size = every, limit, kind, batch_size
        self._done: set[int] = set()  # steps already in ``path`` for this run (known after on_resume)

    def on_resume(self, step: int, model) -> None:
        """Keep the lines of steps <= ``step`` (all of them are lost to a fresh start, ``step`` 0) and
        evaluate ``step`` itself if a kill came between its checkpoint and its evaluation."""
        from ..helpers.io import atomic_write_text

        kept = []
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    if json.loads(line)["step"] <= step:
                        kept.append(line)
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a kill mid-write
            atomic_write_text(self.path, "".join(line + "\n" for line in kept))
        self._done = {json.loads(line)["step"] for line in kept}
        if step and step % self.every == 0 and step not in self._done:
            self.run(step, model)

    def _scorable(self, model):
        from ..models import GptBertForCausalLM, GptBertForMaskedLM

        if isinstance(model, GptBertForCausalLM) and self.kind == "mlm":
            masked = GptBertForMaskedLM(model.config).to(next(model.parameters()).device)
            masked.load_state_dict(model.state_dict())
            return masked
        return model

    def run(self, step: int, model) -> dict[str, float]:
        from ..evaluate import evaluate

        was_training = model.training
        result = evaluate(self._scorable(model), self.tokenizer, self.benchmarks, limit=self.limit, progress=False,
                          batch_size=self.batch_size)
        model.train(was_training)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": step, "scores": result.scores}) + "\n")
        self._done.add(step)
        return result.scores

    def on_step_end(self, step: int, model) -> None:
        if step % self.every == 0 and step not in self._done:
            self.run(step, model)

    def on_train_end(self, step: int, model) -> None:
        if step not in self._done:
            self.run(step, model)


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The records of an :class:`EvaluationCallback` metrics file."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def plot_trajectories(path: str | os.PathLike, keys: Sequence[str], out: str | os.PathLike | None = None):
    """Plot score trajectories (step on x) from an :class:`EvaluationCallback` metrics file; returns the figure
    (a :class:`matplotlib.figure.Figure`, no pyplot) and writes it to ``out`` when given."""
    records = read_metrics(path)
    fig, ax = new_figure(figsize=(7, 4))
    for key in keys:
        points = [(r["step"], r["scores"][key]) for r in records if key in r["scores"]]
        if not points:
            raise KeyError(f"{path} has no score {key!r}")
        ax.plot(*zip(*points), marker="o", label=key)
    ax.axhline(50, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("training step")
    ax.set_ylabel("score (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    if out is not None:
        save_figure(fig, out, dpi=120)
    return fig


def single_token_pairs(tokenizer, pairs: WordPairs | None = None) -> list[tuple[int, int]]:
    """The (male, female) token-id pairs of ``pairs`` (default: the shipped gender pairs) whose two words
    are single tokens, with and without a leading space (byte-level BPE gives the two different ids)."""
    pairs = pairs or WordPairs.gender()
    ids = []
    for a, b in pairs.pairs:
        ta, tb = (tokenizer(w, add_special_tokens=False)["input_ids"] for w in (a, b))
        tsa, tsb = (tokenizer(" " + w, add_special_tokens=False)["input_ids"] for w in (a, b))
        for x, y in ((ta, tb), (tsa, tsb)):
            if len(x) == 1 and len(y) == 1 and x != y:
                ids.append((x[0], y[0]))
    if not ids:
        raise ValueError("no gendered pair is a single token pair in this tokenizer")
    return sorted(set(ids))


class GenderEqualizingLoss:
    """Qian et al. 2019: at every predicted position, penalise the gap between the log-probabilities
    of the two words of each gendered pair: ``weight · Σ_positions mean_pairs |log p(m) − log p(f)|``
    (summed over positions, like the training loss). Pairs whose words are not single tokens are skipped."""

    def __init__(self, tokenizer, weight: float = 1.0, pairs: WordPairs | None = None) -> None:
        ids = single_token_pairs(tokenizer, pairs)
        self.male = torch.tensor(ids).T[0]
        self.female = torch.tensor(ids).T[1]
        self.weight = weight

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        lp = F.log_softmax(logits.float(), dim=-1)
        gap = (lp[:, self.male.to(lp.device)] - lp[:, self.female.to(lp.device)]).abs().mean(dim=-1)
        return self.weight * gap.sum()


class AttributeSubspaceLoss:
    """BERT-ASE's debiasing term (Park et al. 2023, as ``../shared/references/methods.md`` states it):
    ``weight · Σ_t |h_t · ĝ|`` over the last-layer states h_t of every non-special token that is not a
    gendered word, where ĝ is the normalised mean difference of the male and the female words' states.

    Our reading, where the summary leaves it open: ĝ is computed once, when the hook is built, from the
    model's last-layer state of each single-token gendered word (:func:`single_token_pairs`) written alone,
    and held fixed during training; Park et al.'s EWC term (γ · a diagonal Fisher penalty from WinoBias
    pro-stereotyped sentences) is not part of this hook. A loss hook with ``needs_hidden``: the training
    loop passes the batch's last hidden states.
    """

    needs_hidden = True

    def __init__(self, model, tokenizer, weight: float = 1.0, pairs: WordPairs | None = None) -> None:
        ids = single_token_pairs(tokenizer, pairs)
        self.weight = float(weight)
        self.direction = self._direction(model, tokenizer, ids)
        self.excluded = torch.tensor(sorted({i for pair in ids for i in pair} |
                                            {i for i in tokenizer.all_special_ids if i is not None}))

    @staticmethod
    @torch.no_grad()
    def _direction(model, tokenizer, ids: list[tuple[int, int]]) -> torch.Tensor:
        was_training = model.training
        model.eval()
        lead = [t for t in (tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id,)
                if t is not None]
        words = torch.tensor([lead + [i] for pair in ids for i in pair], device=next(model.parameters()).device)
        out = model(input_ids=words, attention_mask=torch.ones_like(words), output_hidden_states=True)
        states = out.hidden_states[-1][:, -1].float()
        model.train(was_training)
        diff = (states[0::2] - states[1::2]).mean(0)
        norm = diff.norm()
        if not torch.isfinite(norm) or norm == 0:
            raise ValueError("the male and female words' states do not differ: no gender direction to penalise")
        return (diff / norm).cpu()

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor, *, hidden: torch.Tensor, input_ids: torch.Tensor,
                 attention_mask: torch.Tensor) -> torch.Tensor:
        keep = attention_mask.bool() & ~torch.isin(input_ids, self.excluded.to(input_ids.device))
        return self.weight * (hidden[keep].float() @ self.direction.to(hidden.device)).abs().sum()
