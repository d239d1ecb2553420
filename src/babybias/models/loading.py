"""One loader for a saved model: a ``save_pretrained`` folder or a hub id, as a masked or causal LM.

* :func:`lm_kind` — "mlm" or "clm" for a model, a ``transformers`` config, or a folder / hub id;
* :func:`load_lm` — the model as the masked- or causal-LM Auto class, its weight files checked, a saved
  debiasing projection re-attached and a saved wrapper (Self-Debias) re-applied;
* :func:`load_tokenizer` — the tokenizer of a folder or hub id;
* :func:`load_pretrained` — the same for any class (a classifier, the class ``config.json`` names).

Every user error is one line (:class:`LoadError`, a ``ValueError``). A wrapper that lives above this
floor registers how it is re-applied in :data:`SAVED_WRAPPERS`, keyed by the marker file its
``save_pretrained`` writes (``babybias.debias`` registers ``self_debias.json`` when imported).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from ..helpers.paths import local_or_hub
from ..helpers.registry import Registry
from .projection import INFO_FILE, projection_record, read_projection, restore_projection, save_projection

__all__ = ["LoadError", "LMKindError", "MissingTokenizerError", "TOKENIZER_FILES", "DEBIAS_FILES", "SAVED_WRAPPERS",
           "lm_kind", "lm_kind_reason", "model_source", "read_config", "model_class", "debias_files", "wrapper_files",
           "load_pretrained",
           "load_lm", "load_tokenizer", "save_lm"]

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model", "tokenizer.model")
#: marker files of saved wrappers whose handler lives above this floor (known even before it is registered)
KNOWN_WRAPPERS = ("self_debias.json",)
#: the files that say a folder holds a debiased model: the projection's record, then the wrappers'
DEBIAS_FILES = (INFO_FILE, *KNOWN_WRAPPERS)
KINDS = ("mlm", "clm")

SavedWrapper = Callable[[Any, Path, Any, "str | None"], Any]
"""``handler(model, folder, tokenizer, kind) -> wrapped model`` (``tokenizer`` and ``kind`` may be None)."""

#: marker file name → :data:`SavedWrapper` that re-applies the wrapper saved in that folder
SAVED_WRAPPERS: Registry = Registry("saved wrapper", hint="; import the package that saves it (babybias.debias)")


class LoadError(ValueError):
    """A model or tokenizer cannot be loaded from what was given; the message is one line saying why."""


class LMKindError(LoadError):
    """Masked or causal cannot be told, or the model has no class of that kind. ``why`` is the reason and
    ``suggest`` the other kind to try (None: pass either)."""

    def __init__(self, why: str, suggest: str | None = None) -> None:
        self.why, self.suggest = why, suggest
        advice = f"try kind={suggest!r}" if suggest else "pass kind='mlm' or kind='clm'"
        super().__init__(f"{why}; {advice}")


class MissingTokenizerError(LoadError):
    """A local folder without tokenizer files."""


# ------------------------------------------------------------------------------------------- kind


def _is_config(x: Any) -> bool:
    from transformers import PretrainedConfig

    return isinstance(x, PretrainedConfig)


def _kind_of_class(name: str) -> str | None:
    """The kind a model class name tells (the Auto mappings' class names, then the name's suffix)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, MODEL_FOR_MASKED_LM_MAPPING_NAMES

    mlm = name in set(MODEL_FOR_MASKED_LM_MAPPING_NAMES.values()) or name.endswith("ForMaskedLM")
    clm = name in set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values()) or name.endswith(("ForCausalLM", "LMHeadModel"))
    return "mlm" if mlm and not clm else "clm" if clm and not mlm else None


def _kind_of_config(config) -> tuple[str, str]:
    """(kind, why) from ``architectures``, else from a ``model_type`` that only one Auto class knows."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, MODEL_FOR_MASKED_LM_MAPPING_NAMES

    archs = list(getattr(config, "architectures", None) or [])
    kinds = set()
    for arch in archs:
        if arch.endswith("ForMaskedLM"):
            kinds.add("mlm")
        elif arch.endswith(("ForCausalLM", "LMHeadModel")):
            kinds.add("clm")
    if len(kinds) == 1:
        return kinds.pop(), f"from config.json architectures {archs}"
    mtype = getattr(config, "model_type", None)
    mlm, clm = mtype in MODEL_FOR_MASKED_LM_MAPPING_NAMES, mtype in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    if mlm != clm:
        return ("mlm" if mlm else "clm"), f"from config.json model_type {mtype!r} (architectures {archs})"
    raise LMKindError(f"cannot tell whether the model is a masked or a causal LM from its config.json "
                      f"(architectures {archs}, model_type {mtype!r})")


def lm_kind_reason(x: Any) -> tuple[str, str]:
    """``(kind, where it came from)`` of a model instance, a ``transformers`` config, or a folder / hub id.

    A ``babybias_lm_kind`` attribute ("mlm"/"clm") decides first. A model: its class (the Auto
    mappings' class names, ``*ForMaskedLM`` → mlm, ``*ForCausalLM``/``*LMHeadModel`` → clm). A config
    (or the ``config.json`` of a folder / hub id): ``architectures``, else a ``model_type`` that only one
    of the two Auto classes knows. Undecidable: :class:`LMKindError` (pass ``kind=``).
    """
    explicit = getattr(x, "babybias_lm_kind", None)
    if explicit in KINDS:
        return explicit, "from its babybias_lm_kind"
    if isinstance(x, (str, os.PathLike)):
        return _kind_of_config(read_config(x))
    if _is_config(x):
        return _kind_of_config(x)
    name = type(x).__name__
    kind = _kind_of_class(name)
    if kind is None:
        raise LMKindError(f"cannot tell whether {name} is a masked or a causal LM")
    return kind, f"from its class {name}"


def lm_kind(x: Any) -> str:
    """"mlm" or "clm" for a model instance, a ``transformers`` config, or a folder / hub id (:func:`lm_kind_reason`)."""
    return lm_kind_reason(x)[0]


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise LoadError(f"kind must be 'mlm' (masked LM) or 'clm' (causal LM), got {kind!r}")
    return kind


# ----------------------------------------------------------------------------------------- config


def model_source(source: str | os.PathLike, what: str = "model folder") -> Path | str:
    """An existing local folder as a :class:`Path`, or a hub id unchanged (a missing local path raises at once)."""
    return local_or_hub(source, what)


def _check_folder(path: Path) -> None:
    """A local model must be a folder holding ``config.json`` (a run folder's hint: its ``final/``)."""
    if not path.is_dir():
        raise LoadError(f"model {path} is a file; give the folder that save_pretrained wrote")
    if not (path / "config.json").exists():
        final = path / "final"
        hint = (f"; a training run's model is in {final}" if (final / "config.json").exists()
                else "; is it a save_pretrained folder?")
        raise LoadError(f"model folder {path} has no config.json{hint}")


def read_config(source: str | os.PathLike, *, revision: str | None = None):
    """The ``transformers`` config of a folder or hub id (babybias's architectures registered)."""
    from transformers import AutoConfig

    source = model_source(source)
    if isinstance(source, Path):
        _check_folder(source)
    return AutoConfig.from_pretrained(source, **({"revision": revision} if revision else {}))


def model_class(config) -> type:
    """The class ``config.json``'s ``architectures`` names (a ``transformers`` or babybias class)."""
    import transformers

    from .. import models

    for arch in getattr(config, "architectures", None) or []:
        cls = getattr(transformers, arch, None) or getattr(models, arch, None)
        if cls is not None:
            return cls
    raise LoadError(f"cannot tell the model class from config.json architectures {config.architectures!r}")


def debias_files(source: Any) -> list[str]:
    """The files of :data:`DEBIAS_FILES` (and registered wrappers' markers) in a local folder; [] for anything else."""
    if not isinstance(source, (str, os.PathLike)) or not Path(source).is_dir():
        return []
    names = list(DEBIAS_FILES) + [m for m in SAVED_WRAPPERS if m not in DEBIAS_FILES]
    return [n for n in names if (Path(source) / n).exists()]


def wrapper_files(source: Any) -> list[str]:
    """The saved wrappers' marker files (``self_debias.json``, …) in a local folder; [] for anything else."""
    return [f for f in debias_files(source) if f != INFO_FILE]


# ------------------------------------------------------------------------------------------ loading


def _wrap(model, path: Path, tokenizer, kind: str | None):
    """The model with every saved wrapper of ``path`` re-applied (a marker without handler: one line)."""
    for marker in wrapper_files(path):
        if marker not in SAVED_WRAPPERS:
            raise LoadError(f"{path} holds {marker}, a saved wrapper that babybias.models cannot re-apply alone: "
                            "import babybias.debias first (it registers the loader)")
        model = SAVED_WRAPPERS[marker](model, path, tokenizer, kind)
    return model


def load_pretrained(source: str | os.PathLike, cls: type | None = None, *, config=None, tokenizer=None,
                    kind: str | None = None, revision: str | None = None, **from_pretrained_kwargs):
    """``cls.from_pretrained(source)`` (``cls`` defaults to :func:`model_class` of its config) with the saved
    projection re-attached and saved wrappers re-applied; a local folder's weight files are checked first."""
    from .convert import check_weight_files

    source = model_source(source)
    if isinstance(source, Path):
        _check_folder(source)
        check_weight_files(source)  # a truncated or garbage weights file: one line naming it
    if cls is None:
        cls = model_class(config if config is not None else read_config(source, revision=revision))
    kwargs = dict(from_pretrained_kwargs)
    if config is not None:
        kwargs["config"] = config
    if revision:
        kwargs["revision"] = revision
    model = cls.from_pretrained(source, **kwargs)
    if isinstance(source, Path):
        saved = read_projection(source)
        if saved is not None:
            model = restore_projection(model, *saved)
        model = _wrap(model, source, tokenizer, kind)
    return model


def load_lm(source: str | os.PathLike, kind: str | None = None, *, config=None, tokenizer=None,
            revision: str | None = None, **from_pretrained_kwargs):
    """A ``save_pretrained`` folder or hub id as its masked ("mlm") or causal ("clm") LM Auto class.

    ``kind`` defaults to :func:`lm_kind` of its config; a local folder's weight files are checked; a
    saved debiasing projection is re-attached and a saved Self-Debias wrapper re-applied (``tokenizer``
    defaults to the folder's; needs ``import babybias.debias``). Errors are one line (:class:`LoadError`).
    """
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    source = model_source(source)
    if config is None:
        config = read_config(source, revision=revision)
    kind = _check_kind(kind) if kind is not None else lm_kind(config)
    auto = AutoModelForCausalLM if kind == "clm" else AutoModelForMaskedLM
    try:
        return load_pretrained(source, auto, config=config, tokenizer=tokenizer, kind=kind, revision=revision,
                               **from_pretrained_kwargs)
    except ValueError as err:
        if "Unrecognized configuration class" not in str(err):
            raise
        other = "mlm" if kind == "clm" else "clm"
        raise LMKindError(f"model {source} (model_type {config.model_type!r}) has no "
                          f"{'causal' if kind == 'clm' else 'masked'}-LM class", other) from None


def load_tokenizer(source: str | os.PathLike, *, revision: str | None = None, what: str = "tokenizer folder",
                   **from_pretrained_kwargs):
    """``AutoTokenizer`` of a folder or hub id; a local path that is no folder with tokenizer files is one
    line (:class:`MissingTokenizerError`) naming it as ``what``."""
    from transformers import AutoTokenizer

    source = model_source(source, what)
    if isinstance(source, Path) and (not source.is_dir() or not any((source / f).exists() for f in TOKENIZER_FILES)):
        raise MissingTokenizerError(f"{what} {source} has no tokenizer files ({', '.join(TOKENIZER_FILES[:2])}, ...)")
    if revision:
        from_pretrained_kwargs["revision"] = revision
    return AutoTokenizer.from_pretrained(source, **from_pretrained_kwargs)


def save_lm(model, path: str | os.PathLike, tokenizer=None) -> Path:
    """What :func:`load_lm` reads back: ``save_pretrained`` (and the tokenizer's), plus the model's debiasing
    projection beside the weights when it carries one."""
    path = Path(path)
    model.save_pretrained(path)
    if tokenizer is not None:
        tokenizer.save_pretrained(path)
    if projection_record(model) is not None:
        save_projection(model, path)
    return path
