"""The ``babybias`` command: ``babybias sandbox`` (the main job), ``babybias evaluate``, ``babybias debias`` and
``babybias benchmarks``.

User errors (a missing file, a bad option value, an unknown benchmark, a malformed data file)
print one line ``babybias: error: ...`` to stderr and exit with status 2; ``--debug`` shows the
traceback instead. See docs/cli.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from .helpers.deprecation import moved_names
from .helpers.paths import local_or_hub, looks_local, require_local

EXIT_USER_ERROR = 2

#: the model-loading library code moved to babybias.models.loading; these names still import from here, with a warning
__getattr__ = moved_names("babybias.cli", {"kind_from_config": "babybias.models.loading:lm_kind_reason",
                                           "TOKENIZER_FILES": "babybias.models.loading",
                                           "DEBIAS_FILES": "babybias.models.loading"})


class CLIError(Exception):
    """A user error found by the command line itself (its message is the one line printed)."""


class _UsageError(Exception):
    """An argparse error (bad option or value), raised instead of argparse's usage dump."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(f"{message} (see '{prog} --help')")


class _Parser(argparse.ArgumentParser):
    """argparse that raises :class:`_UsageError` so ``main`` prints one line, like every other user error, and
    accepts no abbreviated option (``--bench`` is not ``--benchmarks``) in any subcommand."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        raise _UsageError(self.prog, message)


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def limit_arg(text: str) -> int | None:
    """argparse type: ``all`` (→ None, every example) or an integer >= 1."""
    if text.strip().lower() == "all":
        return None
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1 or 'all', got {text!r}") from None


def device_arg(text: str) -> str:
    """argparse type of every ``--device``: a torch device this machine has (``cpu``, ``cuda``, ``cuda:1``, ``mps``).

    Checked while the options are parsed, before anything loads: a CPU-only torch build, no visible
    GPU, or a GPU index past the count is one line naming the device and the torch build.
    """
    import torch

    try:
        device = torch.device(text.strip())
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a torch device (cpu, cuda, cuda:N, mps)") from None
    build = f"torch {torch.__version__}"
    if device.type == "cuda":
        if torch.version.cuda is None:
            raise argparse.ArgumentTypeError(f"{text}: this torch build has no CUDA ({build}); "
                                             "use --device cpu, or install a CUDA build of torch")
        count = torch.cuda.device_count()
        if count == 0:
            raise argparse.ArgumentTypeError(f"{text}: torch sees no CUDA GPU ({build}, CUDA "
                                             f"{torch.version.cuda}; CUDA_VISIBLE_DEVICES="
                                             f"{os.environ.get('CUDA_VISIBLE_DEVICES', '(unset)')})")
        if device.index is not None and device.index >= count:
            raise argparse.ArgumentTypeError(f"{text}: this machine has {count} CUDA GPU(s) "
                                             f"(cuda:0 … cuda:{count - 1})")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{text}: MPS is not available here ({build})")
    return str(device)


def source_arg(text: str) -> tuple[str, str]:
    """argparse type of ``--source NAME=PATH``: a benchmark name and its data (a local path, or ``hf:org/name``)."""
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=PATH (a benchmark name and its data, e.g. "
                                         f"ewok=ewok_filtered.zip), got {text!r}")
    return name.strip(), path.strip()


# ------------------------------------------------------------------------------------------ plugins


def load_plugin(spec: str) -> list[str]:
    """Import a plugin (a module name, or a ``.py`` file path) whose import registers benchmarks.

    Returns the benchmark names it added. ``spec`` is a file when it ends in ``.py`` or contains a
    path separator; anything else is a module name (``mybench``, ``pkg.mod``), imported with
    ``sys.path`` and then the current folder searched, even when a folder ``mybench/`` exists here
    (a package is such a folder). A missing module or file raises a one-line user error.
    """
    from .helpers.imports import UserImportError, import_user_code
    from .evaluate import list_benchmarks

    before = set(list_benchmarks())
    try:
        import_user_code(spec, "plugin", prefix="babybias_plugin")
    except UserImportError as err:
        raise CLIError(str(err)) from None
    return sorted(set(list_benchmarks()) - before)


def _load_plugins(specs: Sequence[str]) -> None:
    for spec in specs:
        names = load_plugin(spec)
        print(f"plugin {spec}: registered {', '.join(names) if names else 'no new benchmarks'}", file=sys.stderr)


def benchmark_from_arg(item: str):
    """A ``--benchmarks`` item as a Benchmark: a registered name, or a minimal-pairs ``.jsonl`` file / folder.

    A registered name wins; otherwise an item ending in ``.jsonl``/``.jsonl.gz`` or looking like a
    path becomes ``MinimalPairs(name=<file name without .jsonl/.jsonl.gz, or folder name>, source=path)``
    (it must exist, and is read once here so that a malformed file fails before the model loads).
    """
    from .evaluate import MinimalPairs, get_benchmark, list_benchmarks, load_minimal_pairs
    from .evaluate.minimal_pairs import pairs_file_stem

    if item in list_benchmarks():
        return get_benchmark(item)
    if item.endswith((".jsonl", ".jsonl.gz")) or looks_local(item):
        path = require_local(item, "minimal-pairs file")
        if path.is_file() and not path.name.endswith((".jsonl", ".jsonl.gz")):
            raise CLIError(f"minimal-pairs file {item} must end in .jsonl or .jsonl.gz (one JSON object per line)"
                           f"{_registered_data_hint(item)}")
        load_minimal_pairs(path)  # a malformed file fails here, before the model loads
        return MinimalPairs(name=pairs_file_stem(path) if path.is_file() else path.resolve().name, source=str(path))
    return get_benchmark(item)  # raises UnknownBenchmarkError listing the registered names


def _registered_data_hint(item: str) -> str:
    """How to pass ``item`` as the data of a registered benchmark (say a zip of EWoK) instead of as a pairs file."""
    stem = Path(item).name.lower()
    names = [n for n in ("ewok", "blimp_supplement") if stem.startswith(n.split("_")[0])] or ["ewok", "blimp_supplement"]
    example = f"--benchmarks {names[0]} --source {names[0]}={item}"
    extra = " (add --ewok-password PASSWORD for a protected zip)" if names[0] == "ewok" else ""
    return (f"; if it is the data of a registered benchmark, name the benchmark and pass the data with "
            f"--source NAME=PATH: {example}{extra}")


def with_sources(benchmarks: Sequence, sources: Sequence[tuple[str, str]], password: str | None = None) -> list:
    """``benchmarks`` with ``--source NAME=PATH`` set as each named benchmark's ``source`` and ``--ewok-password``
    as the ``password`` of those that take one; then each reads its data (before the model loads)."""
    from .evaluate.registry import MissingDataError

    by_name = {b.name: i for i, b in enumerate(benchmarks)}
    out = list(benchmarks)
    for name, path in sources:
        if name not in by_name:
            raise CLIError(f"--source {name}={path}: {name!r} is not in --benchmarks "
                           f"({', '.join(by_name)}); add it there too")
        bench = out[by_name[name]]
        if not hasattr(bench, "source"):
            raise CLIError(f"--source {name}={path}: benchmark {name!r} takes no source")
        data = path if path.startswith("hf:") else str(require_local(path, f"--source {name} data"))
        out[by_name[name]] = bench.with_options(source=data)
    if password is not None:
        takers = [i for i, b in enumerate(out) if hasattr(b, "password")]
        if not takers:
            raise CLIError("--ewok-password is given but no benchmark in --benchmarks takes a password (ewok does)")
        for i in takers:
            out[i] = out[i].with_options(password=password)
    for bench in out:
        try:
            bench.check_data()
        except MissingDataError as err:
            extra = " (a protected zip also needs --ewok-password PASSWORD)" if err.password else ""
            raise CLIError(f"benchmark {err.benchmark!r} {err.why or 'has no data shipped with babybias'}: pass "
                           f"--source {err.benchmark}=PATH, PATH {err.needs}{extra}") from None
    return out


def benchmarks_from_args(items: Sequence[str]) -> list:
    """Every ``--benchmarks`` item as a Benchmark, refusing two with one name (their scores would collide)."""
    benchmarks, first = [], {}
    for item in items:
        bench = benchmark_from_arg(item)
        if bench.name in first:
            other = first[bench.name]
            if other == item:
                raise CLIError(f"--benchmarks lists {item} twice; give it once")
            raise CLIError(f"--benchmarks {other} and {item} would both be named {bench.name!r} (a pairs file is "
                           f"named after its file name without .jsonl, a folder after the folder); rename or copy "
                           f"one of them to another name")
        first[bench.name] = item
        benchmarks.append(bench)
    return benchmarks


# ---------------------------------------------------------------------------------------- the model


def _load_model_and_tokenizer(model_source: str | Path, tok_source: str | Path, kind: str | None, tokenizer_given: bool):
    """``(model, tokenizer, kind)`` through :func:`babybias.models.load_lm`, printing the kind and any debiasing
    applied; the loader's kind errors name ``--kind`` and a model folder without tokenizer asks for ``--tokenizer``."""
    from .models.loading import LMKindError, MissingTokenizerError, debias_files, lm_kind_reason, load_lm, load_tokenizer, \
        read_config

    applied = debias_files(model_source)
    try:
        config = read_config(model_source)
        kind, why = lm_kind_reason(config) if kind is None else (kind, "from --kind")
        try:
            tokenizer = load_tokenizer(tok_source, what="tokenizer folder" if tokenizer_given else "model folder")
        except MissingTokenizerError as err:
            raise CLIError(str(err) if tokenizer_given else f"{err}; pass --tokenizer FOLDER") from None
        print(f"kind: {kind} ({why})", flush=True)
        if applied:
            from . import debias  # noqa: F401  (registers the loader of a saved Self-Debias model)
        model = load_lm(model_source, kind, config=config, tokenizer=tokenizer)
    except LMKindError as err:
        advice = f"try --kind {err.suggest}" if err.suggest else "pass --kind mlm or --kind clm"
        raise CLIError(f"{err.why}; {advice}") from None
    if applied:
        print(f"debiased model: {', '.join(applied)} applied", flush=True)
    _check_tokenizer_fits(model, tokenizer, model_source, tok_source)
    return model, tokenizer, kind


def _check_tokenizer_fits(model, tokenizer, model_source, tok_source) -> None:
    """The scorer's tokenizer check, run before scoring, its one line naming the model and tokenizer."""
    import warnings

    from .evaluate.scoring import TokenizerMismatchError, check_tokenizer_fits

    try:
        with warnings.catch_warnings():  # its warning (a suspiciously small tokenizer) comes from the scorer, once
            warnings.simplefilter("ignore")
            check_tokenizer_fits(model, tokenizer)
    except TokenizerMismatchError as err:
        which = "its own tokenizer" if tok_source == model_source else f"tokenizer {tok_source}"
        raise CLIError(f"model {model_source} and {which} do not fit: {err}"
                       + ("" if tok_source != model_source else "; pass --tokenizer FOLDER of the model's tokenizer")) from None


# -------------------------------------------------------------------------------------- subcommands


def seeds_arg(text: str) -> tuple[int, ...]:
    """argparse type: a number of seeds N (>= 1: seeds 0 … N−1) or an explicit comma-separated list ``3,7,9``
    (checked by the grids' one rule, ``babybias.analysis.grid.parse_seeds``)."""
    from .analysis.grid import parse_seeds

    parts = [p.strip() for p in text.split(",")]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seeds or a comma-separated list of seeds, got {text!r}") from None
    try:
        return parse_seeds(values[0] if len(values) == 1 and "," not in text else values)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _print_result(result, out_dir: str) -> None:
    import pandas as pd

    table = result.pretty_table().T
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 40):
        print("means over seeds, 95 % t interval over seeds (n = seeds per condition):")
        print(table.to_string())
    print()
    print("\n".join(result.summary))
    if result.missing:
        print(f"\n{len(result.missing)} cell(s) unfinished: run the same command again to finish them")
    print(f"\nwritten: {out_dir}/results.json, table.csv, effects.csv, summary.txt, comparison.png")


def _quiet() -> None:
    """No progress bars from ``datasets`` and ``transformers`` (``--quiet``)."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()


def _sandbox(args: argparse.Namespace) -> int:
    from . import experiment

    if args.quiet:
        _quiet()
    _load_plugins(args.plugin)
    if args.collect:
        folder = require_local(args.collect, "sandbox output folder")
        result = experiment.collect(folder, n_resamples=args.n_resamples, primary_metric=args.primary_metric)
        _print_result(result, str(folder))
        return 0
    options = dict(experiment=args.experiment, control=args.control, primary_metric=args.primary_metric, axis=args.axis,
                   recipe=args.recipe, corpus=args.corpus, out_dir=args.out, steps=args.steps,
                   conditions=tuple(args.conditions) if args.conditions else None, vocab_size=args.vocab_size,
                   seeds=args.seeds, blimp_limit=args.blimp_limit, bias_limit=args.bias_limit,
                   supplement=args.supplement, ewok=args.ewok, ewok_password=args.ewok_password,
                   seat=args.seat, perplexity=args.perplexity,
                   benchmarks=tuple(args.extra_benchmarks), n_resamples=args.n_resamples, progress=not args.quiet)
    try:
        config = experiment.SandboxConfig(**options)
    except (ValueError, TypeError) as err:  # SandboxConfig checks the options: a bad --recipe / --experiment value
        raise CLIError(str(err)) from err
    if args.list_cells:
        print("\n".join(experiment.sandbox_grid(config).listing()))
        return 0
    try:
        result = experiment.run(config, cells=args.cell)
    except KeyboardInterrupt:
        grid = experiment.cells(config)
        print(f"interrupted: {sum(c.finished for c in grid)} of {len(grid)} cells finished, kept in "
              f"{config.out_dir}; run the same command again to resume (finished cells are skipped, an "
              "unfinished one continues from its last training checkpoint)", file=sys.stderr, flush=True)
        raise
    if result is None:  # only some cells were run (--cell): the rest are another job's
        grid = experiment.cells(config)
        print(f"{sum(c.finished for c in grid)} of {len(grid)} cells done; when all are, collect them with: "
              f"babybias sandbox --collect {config.out_dir}")
        return 0
    _print_result(result, config.out_dir)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate

    if args.quiet:
        import transformers

        transformers.utils.logging.disable_progress_bar()
    _load_plugins(args.plugin)
    benchmarks = benchmarks_from_args(args.benchmarks)  # before the model loads: fail fast
    benchmarks = with_sources(benchmarks, args.source, args.ewok_password)  # each reads its data here
    model_source = local_or_hub(args.model, "model folder")
    tok_source = model_source if args.tokenizer is None else local_or_hub(args.tokenizer, "tokenizer folder")
    model, tokenizer, kind = _load_model_and_tokenizer(model_source, tok_source, args.kind, args.tokenizer is not None)
    result = evaluate(model, tokenizer, benchmarks, kind=kind, limit=args.limit, device=args.device,
                      progress=not args.quiet)
    for key, value in result.scores.items():
        if args.all or key.count("/") <= 2 and "paradigm/" not in key:
            print(f"{key:45s} {value:8.2f}")
    if args.output:
        result.to_json(args.output)
        print(f"written: {args.output}")
    return 0


def _debias(args: argparse.Namespace) -> int:
    from . import debias

    if args.quiet:
        _quiet()
    model_source = local_or_hub(args.model, "model folder")
    tok_source = model_source if args.tokenizer is None else local_or_hub(args.tokenizer, "tokenizer folder")
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise CLIError(f"--out {out} exists and is not empty; give a new folder")
    try:  # the method's options are checked before the model loads
        if args.method == "sent-debias":
            method = debias.SentDebias(k=args.k, max_pairs=args.max_pairs, seed=args.seed)
        elif args.method == "inlp":
            method = debias.INLP(n_iterations=args.iterations, n_per_class=args.per_class, stop_at=args.stop_at,
                                 seed=args.seed)
        else:
            method = debias.SelfDebias(bias_types=tuple(args.bias_types))
    except ValueError as err:
        raise CLIError(f"{args.method}: {err}") from None
    corpus = None
    if args.corpus is not None:
        from .corpus import load_corpus

        corpus = load_corpus(args.corpus)
    model, tokenizer, _ = _load_model_and_tokenizer(model_source, tok_source, args.kind, args.tokenizer is not None)
    debiased = method.fit(model, tokenizer, corpus).apply(model)
    if isinstance(debiased, debias.SelfDebiasedLM):
        debiased.save_pretrained(out)
        tokenizer.save_pretrained(out)
    else:
        debias.save_debiased(debiased, out, tokenizer)
        for key, value in method.fit_stats_.items():
            print(f"{key:24s} {value}")
    print(f"written: {out} (babybias evaluate {out} scores it debiased)")
    return 0


def _upstream_arg(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=PATH (PATH may hold {{seed}}), got {text!r}")
    return name.strip(), path.strip()


def _print_transfer(result, out_dir) -> None:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 40):
        print("means over seeds, 95 % t interval over seeds (n = seeds per intervention):")
        print(result.pretty_table().to_string())
        if not result.regression.empty:
            print("\nregression of the per-group gap on upstream bias and fine-tuning co-occurrence:")
            print(result.regression.to_string(index=False))
    print()
    print("\n".join(result.summary))
    print(f"\nwritten: {out_dir}/results.json, table.csv, effects.csv, regression.csv, summary.txt, comparison.png")


def _downstream(args: argparse.Namespace) -> int:
    from . import downstream

    if args.quiet:
        _quiet()
    if args.collect:
        folder = require_local(args.collect, "bias-transfer output folder")
        _print_transfer(downstream.collect(folder, primary_metric=args.primary_metric), folder)
        return 0
    if args.model is None:
        raise CLIError("give the pre-trained MODEL (a folder or hub name), or --collect DIR")
    model = local_or_hub(args.model, "model folder")
    interventions = list(args.interventions)
    interventions += [downstream.UpstreamModel(path=p, label=n) for n, p in args.upstream_model]
    train = args.train
    if train not in (None, "hub", "wikipedia-sample"):
        train = str(require_local(train, "--train file"))
    test = None if args.test is None else str(require_local(args.test, "--test file"))
    recipe = args.recipe
    if recipe == "auto":
        import torch

        recipe = "base" if torch.cuda.is_available() else "tiny"
    recipe = downstream.finetune_recipe(recipe, **({"max_steps": args.max_steps} if args.max_steps else {}))
    try:
        config = downstream.TransferConfig(
            task=args.task, model=str(model), out_dir=args.out, interventions=interventions, seeds=args.seeds,
            finetune=recipe, train=train, test=test, max_train=args.max_train, max_test=args.max_test,
            primary_metric=args.primary_metric, upstream_metric=args.upstream_metric, n_resamples=args.n_resamples)
    except (ValueError, TypeError) as err:
        raise CLIError(str(err)) from err
    if args.list_cells:
        print("\n".join(downstream.transfer_grid(config).listing()))
        return 0
    result = downstream.bias_transfer(config, cells=args.cell, progress=not args.quiet)
    if result is None:
        print(f"cells {args.cell} done; when all are, collect them with: babybias downstream --collect {config.out_dir}")
        return 0
    _print_transfer(result, config.out_dir)
    return 0


def _benchmarks(args: argparse.Namespace) -> int:
    from .evaluate import get_benchmark, list_benchmarks

    _load_plugins(args.plugin)
    for name in list_benchmarks():
        bench = get_benchmark(name)
        doc = (type(bench).__doc__ or "").strip().splitlines()
        print(f"{name:20s} {type(bench).__name__:16s} {doc[0] if doc else ''}")
    return 0


# ------------------------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    """The ``babybias`` argument parser."""
    parser = _Parser(prog="babybias", description="Pre-training debiasing research on BabyLMs.")
    debug_help = "show the full traceback of an error instead of one line"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sb = sub.add_parser("sandbox", help="an intervention vs its matched control vs the baseline, over seeds: "
                                         "train, evaluate, effects with intervals")
    sb.add_argument("--experiment", default="cda",
                    help="cda (default), cds, toxicity, perturbation, or your intervention as module:object "
                         "(an Intervention, Pipeline, class or factory; file.py:object works too)")
    sb.add_argument("--control", default="default",
                    help="the matched control: the experiment's own (default), auto (random units, as many words as "
                         "the intervention added or removed), none (the baseline is the control), or module:object, "
                         "a factory f(report, seed=, tokenizer=)")
    sb.add_argument("--primary-metric", help="replace the experiment's primary metric (a score key); name it before "
                                             "looking at results (with --collect: correct a mistaken one)")
    sb.add_argument("--axis", choices=["gender", "race", "age"], help="the perturbation experiment's axis (default gender)")
    sb.add_argument("--seeds", type=seeds_arg, default=4,
                    help="number of training seeds N (0 … N−1; default 4) or a list 3,7,9")
    sb.add_argument("--recipe", default="sandbox",
                    help="sandbox (CPU, default: 500 steps), sandbox_gpu (one GPU: LTG-Baseline on ltg-bert-small, "
                         "about 80 s a cell on an H200), tiny (the sandbox's model and batch for 2,000 steps: 4x "
                         "the default's time), or ltg_baseline_10m, ltg_bert_10m, ltg_baseline_100m, gpt_bert_100m, ...")
    sb.add_argument("--corpus", help="text file or folder (one unit per line), or a hub dataset org/name; "
                                     "default: the shipped Wikipedia sample")
    sb.add_argument("--out", "--output", dest="out", default="sandbox_results", metavar="DIR",
                    help="output folder: one folder per cell, the table and effects (default sandbox_results); "
                         "run the same command again to resume it")
    sb.add_argument("--steps", type=_positive_int, help="override the recipe's number of steps (>= 1)")
    sb.add_argument("--conditions", nargs="+", help="run only these of the experiment's conditions")
    sb.add_argument("--vocab-size", type=_positive_int, default=2000,
                    help="size of the grid's tokenizer, trained on the baseline corpus (>= 64; default 2000)")
    sb.add_argument("--blimp-limit", type=limit_arg, default=100,
                    help="BLiMP pairs per paradigm: an integer >= 1, or 'all' (default 100)")
    sb.add_argument("--bias-limit", type=limit_arg, default=None,
                    help="items per bias benchmark: an integer >= 1, or 'all' (default)")
    sb.add_argument("--supplement", help="folder of the BabyLM BLiMP supplement")
    sb.add_argument("--ewok", help="EWoK folder, file or zip")
    sb.add_argument("--ewok-password", help="password of a protected EWoK zip given with --ewok")
    sb.add_argument("--seat", metavar="DIR", help="SEAT in every cell: a folder of its test files, or 'cache' (the "
                    "tests downloaded once into ~/.cache/babybias; CC BY-NC, not shipped)")
    sb.add_argument("--perplexity", metavar="TEXT", help="perplexity in every cell on this text: a file, a folder "
                    "holding wiki.test.raw, or hf:wikitext (WikiText-2's test split from the hub)")
    sb.add_argument("--benchmark", action="append", default=[], metavar="NAME", dest="extra_benchmarks",
                    help="a further registered benchmark every cell evaluates, capped at --bias-limit (repeatable; "
                         "see 'babybias benchmarks')")
    sb.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                    help="import this module (or .py file) first; it registers benchmarks (repeatable; give it "
                         "again with --collect, so its benchmarks' item intervals can be computed)")
    sb.add_argument("--n-resamples", type=_positive_int, default=1999,
                    help="bootstrap / permutation resamples of each interval over items (default 1999)")
    sb.add_argument("--list-cells", action="store_true", help="print the grid's cells with their index and stop")
    sb.add_argument("--cell", type=int, action="append", metavar="I",
                    help="run only cell I of --list-cells (repeatable): one SLURM array task or torchrun job per cell")
    sb.add_argument("--collect", metavar="DIR", help="build the table and effects from the finished cell folders in DIR")
    sb.add_argument("--quiet", action="store_true", help="no progress bars (the per-cell lines stay)")
    sb.set_defaults(func=_sandbox)

    ev = sub.add_parser("evaluate", help="evaluate a saved or hub model on bias and ability benchmarks")
    ev.add_argument("model", help="a save_pretrained folder or a hub name (org/name)")
    ev.add_argument("--tokenizer", help="tokenizer folder or hub name (default: the model's)")
    ev.add_argument("--kind", choices=["mlm", "clm"],
                    help="score as a masked or causal LM (default: the model's own kind, from its config.json)")
    ev.add_argument("--benchmarks", nargs="+", default=["crows_pairs", "stereoset", "winobias", "blimp"],
                    help="registered names (see 'babybias benchmarks') and/or minimal-pairs .jsonl files or folders")
    ev.add_argument("--source", type=source_arg, action="append", default=[], metavar="NAME=PATH",
                    help="the data of benchmark NAME in --benchmarks: a local file, folder or zip (or hf:org/name); "
                         "needed by ewok and blimp_supplement, which are not shipped (repeatable)")
    ev.add_argument("--ewok-password", help="password of a protected EWoK zip given with --source ewok=PATH")
    ev.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                    help="import this module (or .py file) first; it registers benchmarks (repeatable)")
    ev.add_argument("--limit", type=limit_arg, help="examples per benchmark (per group where it has groups): "
                                                  "an integer >= 1, or 'all' (default)")
    ev.add_argument("--device", type=device_arg, help="cpu, cuda, cuda:N or mps (default: where the model loads, the CPU)")
    ev.add_argument("--output", help="write the full result JSON here")
    ev.add_argument("--all", action="store_true", help="print every score, per paradigm too")
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    ev.set_defaults(func=_evaluate)

    db = sub.add_parser("debias", help="post-model debiasing of a saved or hub model: sent-debias, inlp, self-debias")
    db.add_argument("method", choices=["sent-debias", "inlp", "self-debias"])
    db.add_argument("model", help="a save_pretrained folder or a hub name (org/name)")
    db.add_argument("--out", required=True, help="new folder for the debiased model (weights, tokenizer, projection)")
    db.add_argument("--tokenizer", help="tokenizer folder or hub name (default: the model's)")
    db.add_argument("--kind", choices=["mlm", "clm"], help="masked or causal LM (default: from config.json)")
    db.add_argument("--corpus", help="text file or folder to fit on (default: the shipped Wikipedia sample)")
    db.add_argument("--k", type=_positive_int, default=1, help="sent-debias: subspace dimension (default 1, as bias-bench)")
    db.add_argument("--max-pairs", type=limit_arg, default=None,
                    help="sent-debias: at most this many counterfactual pairs (default all, as bias-bench)")
    db.add_argument("--iterations", type=_positive_int, default=80, help="inlp: iterations (default 80, as bias-bench)")
    db.add_argument("--per-class", type=_positive_int, default=10000, help="inlp: sentences per class (default 10000)")
    db.add_argument("--stop-at", type=float, help="inlp: stop at the first classifier whose dev accuracy is below the "
                                                  "majority rate + this (e.g. 0.01; default: bias-bench's fixed iterations, "
                                                  "which can remove most of a small model's hidden state)")
    db.add_argument("--bias-types", nargs="+", default=["gender"], help="self-debias: prefixes' bias types")
    db.add_argument("--seed", type=int, default=0)
    db.add_argument("--quiet", action="store_true")
    db.set_defaults(func=_debias)

    ds = sub.add_parser("downstream", help="bias transfer: fine-tune a pre-trained model as a classifier under "
                                           "interventions x seeds; TPR/FPR gaps with intervals")
    ds.add_argument("model", nargs="?", help="the pre-trained encoder: a save_pretrained folder or a hub name")
    ds.add_argument("--task", choices=["bios", "toxicity"], default="bios",
                    help="bios (occupation from biography, 28 classes; default) or toxicity (identity terms)")
    ds.add_argument("--train", help="fine-tuning data: a file (.csv/.tsv/.jsonl/.parquet), 'hub' (LabHC/bias_in_bios, "
                                    "google/civil_comments), or for toxicity 'wikipedia-sample' (the shipped comments)")
    ds.add_argument("--test", help="test file (bios: default a 25 %% split of --train, or the hub's test split)")
    ds.add_argument("--interventions", nargs="+", default=["baseline", "scrub", "rebalance", "no_pretraining",
                                                           "weight_perturbation"],
                    help="baseline, scrub, rebalance, no_pretraining, weight_perturbation, sent_debias, inlp")
    ds.add_argument("--upstream-model", type=_upstream_arg, action="append", default=[], metavar="NAME=PATH",
                    help="another pre-trained model as an intervention (PATH may hold {seed}, e.g. a sandbox's "
                         "cells/cda/seed-{seed}/train/final); repeatable")
    ds.add_argument("--seeds", type=seeds_arg, default=3, help="number of seeds N (0 … N−1; default 3) or a list 3,7,9")
    ds.add_argument("--recipe", choices=["auto", "tiny", "base"], default="auto",
                    help="fine-tuning recipe: base (GPU-sized), tiny (CPU, tests) or auto (default: base on a GPU, else tiny)")
    ds.add_argument("--max-steps", type=_positive_int, help="cap the fine-tuning steps")
    ds.add_argument("--max-train", type=_positive_int, help="seeded subset of the fine-tuning data")
    ds.add_argument("--max-test", type=_positive_int, help="seeded subset of each test set (>= 2: an interval over "
                                                          "test items needs two)")
    ds.add_argument("--primary-metric", help="replace the task's primary metric (bios: gap_rms; toxicity: madlibs/fped); "
                                             "name it before looking at results")
    ds.add_argument("--upstream-metric", help="upstream bias probe: kurita (bios default) or a babybias.evaluate score "
                                              "such as crows_pairs/overall (toxicity default)")
    ds.add_argument("--n-resamples", type=_positive_int, default=999, help="bootstrap resamples over test items (default 999)")
    ds.add_argument("--out", default="bias_transfer", help="output folder (default bias_transfer)")
    ds.add_argument("--list-cells", action="store_true", help="print the grid's cells with their index and stop")
    ds.add_argument("--cell", type=int, action="append", metavar="I", help="run only cell I (repeatable)")
    ds.add_argument("--collect", metavar="DIR", help="build the table, effects and regression from DIR's finished cells")
    ds.add_argument("--quiet", action="store_true", help="no progress bars and no per-cell lines")
    ds.set_defaults(func=_downstream)

    bl = sub.add_parser("benchmarks", help="list the registered benchmark names")
    bl.add_argument("--plugin", action="append", default=[], metavar="MODULE", help="import this module (or .py file) first")
    bl.set_defaults(func=_benchmarks)
    for p in (sb, ev, db, ds, bl):  # --debug is accepted after the subcommand too
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
    return parser


def _one_line(err: BaseException, plain: bool = True) -> str:
    """The error's message on one line (a plain KeyError's repr quotes removed)."""
    text = str(err.args[0]) if plain and isinstance(err, KeyError) and len(err.args) == 1 else str(err)
    text = " ".join(text.split()) or type(err).__name__
    return text if len(text) <= 600 else text[:600] + " ... (--debug shows it all)"


# Caught by ``main`` and printed as one line. Only the known user-error types below print their bare
# message; any other ValueError/KeyError/OSError (possibly a bug) also prints its type and the --debug hint.
USER_ERRORS: tuple[type[BaseException], ...] = (CLIError, _UsageError, ValueError, KeyError, OSError)
_PLAIN_ERRORS = (CLIError, _UsageError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)
_LIBRARY_USER_ERRORS = (("babybias.evaluate.registry", "UnknownBenchmarkError"),
                        ("babybias.evaluate.loaders", "DataFormatError"), ("babybias.corpus.core", "CorpusError"),
                        ("babybias.experiment.conditions", "SandboxError"), ("babybias.downstream.data", "DataError"),
                        ("babybias.evaluate.registry", "MissingDataError"),
                        ("babybias.evaluate.scoring", "TokenizerMismatchError"),
                        ("babybias.models.convert", "WeightsFileError"), ("babybias.debias.base", "DebiasError"),
                        ("babybias.models.loading", "LoadError"))


def _is_known_user_error(err: BaseException) -> bool:
    if isinstance(err, _PLAIN_ERRORS + (ConnectionError,)):
        return True
    for module, name in _LIBRARY_USER_ERRORS:  # not imported yet = not raised (and no slow import here)
        cls = getattr(sys.modules.get(module), name, None)
        if cls is not None and isinstance(err, cls):
            return True
    return False


def error_line(err: BaseException) -> str:
    """The one line ``main`` prints for a caught error (without the ``babybias: error: `` prefix).

    A known user error prints its message (after ``ConnectionError: `` for a connection failure);
    any other ValueError/KeyError/OSError, whose message alone may say nothing (``'bias_type'``),
    prints ``TypeName: message`` and how to see the traceback.
    """
    if _is_known_user_error(err):
        prefix = f"{type(err).__name__}: " if isinstance(err, ConnectionError) else ""
        return prefix + _one_line(err)
    hint = "rerun with --debug for the traceback"
    if not isinstance(err, OSError):  # an OSError is usually the environment (e.g. a hub name that does not exist)
        hint = "an internal error? " + hint
    return f"{type(err).__name__}: {_one_line(err, plain=False)} ({hint})"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; user errors print ``babybias: error: <one line>`` and return 2 (``--debug`` re-raises)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except USER_ERRORS as err:
        if debug:
            raise
        print(f"babybias: error: {error_line(err)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        if debug:
            raise
        print("babybias: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
