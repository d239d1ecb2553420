"""The ``babybias`` command line: the model's own kind, local paths vs hub names, limits, one-line
errors, and a user's own benchmarks (minimal-pairs files and plugins)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from babybias.cli import main
from babybias.evaluate import EvaluationResult, evaluate
from babybias.evaluate.registry import REGISTRY
from babybias.testing import shipped_sentences

import babybias

SRC = Path(babybias.__file__).resolve().parents[1]  # the code under test, also for the subprocesses
PAIRS = [
    {"sentence_good": "the cat sleeps.", "sentence_bad": "the cat sleep."},
    {"sentence_good": "the cats sleep.", "sentence_bad": "the cats sleeps."},
    {"sentence_good": "he thanked her.", "sentence_bad": "he thanked she."},
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny GPT-BERT trained and saved by ``babybias.train`` (as the sandbox does), with its in-memory model."""
    from babybias.models import train_tokenizer
    from babybias.train import get_recipe, train

    out = tmp_path_factory.mktemp("run")
    texts = shipped_sentences(per_paradigm=6)
    tok = train_tokenizer(texts, vocab_size=400, kind="bpe", min_frequency=2, lowercase=True)
    import datasets

    recipe = get_recipe("tiny", steps=3, log_every=1, save_every=3)
    result = train(recipe, datasets.Dataset.from_dict({"text": texts}), tok, out, progress=False)
    assert result.final_dir is not None
    return result, tok


@pytest.fixture
def clean_registry():
    """Undo what a plugin registers, so tests can register the same names again."""
    saved = dict(REGISTRY._entries)
    modules = set(sys.modules)
    yield
    REGISTRY._entries.clear()
    REGISTRY._entries.update(saved)
    for name in set(sys.modules) - modules:
        if "plugin" in name:
            del sys.modules[name]


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # one line, no traceback
    assert err[0].startswith("babybias: error: ")
    return err[0]


def _write_pairs(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ------------------------------------------------------------------------------- 12: the model's kind


def test_evaluate_uses_the_models_own_kind_and_matches_python(trained, tmp_path, capsys):
    result, tok = trained
    python = evaluate(result.model, tok, ["crows_pairs", "blimp"], limit=3, progress=False).scores
    out = tmp_path / "r.json"
    assert main(["evaluate", str(result.final_dir), "--benchmarks", "crows_pairs", "blimp", "--limit", "3",
                 "--output", str(out)]) == 0
    cli = EvaluationResult.from_json(out).scores
    assert cli.keys() == python.keys() and cli == pytest.approx(python)
    assert "kind: clm (from config.json architectures ['GptBertForCausalLM'])" in capsys.readouterr().out


def test_kind_flag_overrides_and_says_so(trained, capsys):
    result, _ = trained
    assert main(["evaluate", str(result.final_dir), "--kind", "mlm", "--benchmarks", "blimp", "--limit", "1"]) == 0
    assert "kind: mlm (from --kind)" in capsys.readouterr().out


def test_masked_lm_folder_is_scored_as_mlm(tmp_path, capsys):
    from babybias.testing import tiny_masked_lm, tiny_tokenizer

    tok = tiny_tokenizer("wordpiece")
    tiny_masked_lm(tok).save_pretrained(tmp_path / "bert")
    tok.save_pretrained(tmp_path / "bert")
    assert main(["evaluate", str(tmp_path / "bert"), "--benchmarks", "blimp", "--limit", "1"]) == 0
    assert "kind: mlm (from config.json architectures ['BertForMaskedLM'])" in capsys.readouterr().out


# ------------------------------------------------------------------------- 13: local paths vs the hub


@pytest.fixture
def no_hub(monkeypatch):
    """Fail the test if anything asks the hub (a config, model, tokenizer or dataset)."""
    import datasets
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError(f"sent to the hub: {args}")

    monkeypatch.setattr(datasets, "load_dataset", refuse)
    for auto in ("AutoConfig", "AutoModelForMaskedLM", "AutoModelForCausalLM", "AutoTokenizer"):
        monkeypatch.setattr(getattr(transformers, auto), "from_pretrained", refuse)


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if the sandbox would start (on code that validated nothing it trained for hours)."""
    import babybias.experiment as experiment

    def refuse(config, cells=None):
        raise AssertionError(f"the sandbox started with {config}")

    monkeypatch.setattr(experiment, "run", refuse)


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "./no_model"], "model folder ./no_model does not exist"),
    (["evaluate", "runs/x/final"], "model folder runs/x/final does not exist"),
    (["evaluate", "~/no_such_babybias_model"], "model folder ~/no_such_babybias_model does not exist"),
    (["sandbox", "--corpus", "data/corpus.txt"], "corpus file or folder data/corpus.txt does not exist"),
    (["sandbox", "--corpus", "./corpus"], "corpus file or folder ./corpus does not exist"),
    (["sandbox", "--supplement", "./supplement"], "supplement path ./supplement does not exist"),
])
def test_missing_local_paths_fail_at_once(argv, message, no_hub, no_training, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    assert main(argv) == 2
    assert message in _error_line(capsys)
    assert time.perf_counter() - start < 5


def test_missing_tokenizer_folder_fails_before_loading(trained, no_hub, capsys):
    result, _ = trained
    assert main(["evaluate", str(result.final_dir), "--tokenizer", "./no_tokenizer"]) == 2
    assert "tokenizer folder ./no_tokenizer does not exist" in _error_line(capsys)


def test_model_folder_without_tokenizer_asks_for_one(trained, tmp_path, capsys):
    import shutil

    result, _ = trained
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in result.final_dir.iterdir():
        if f.name == "config.json" or f.suffix == ".safetensors":
            shutil.copy(f, bare / f.name)
    assert main(["evaluate", str(bare), "--benchmarks", "blimp"]) == 2
    assert f"model folder {bare} has no tokenizer files" in _error_line(capsys)
    assert main(["evaluate", str(bare), "--tokenizer", str(result.final_dir), "--benchmarks", "blimp", "--limit", "1"]) == 0


def test_run_folder_without_config_points_to_final(trained, capsys):
    result, _ = trained
    assert main(["evaluate", str(result.output_dir), "--benchmarks", "blimp"]) == 2
    assert f"has no config.json; a training run's model is in {result.final_dir}" in _error_line(capsys)


def test_load_corpus_path_rule(tmp_path, monkeypatch):
    import datasets

    from babybias.corpus import load_corpus

    asked = []
    monkeypatch.setattr(datasets, "load_dataset", lambda name, split: asked.append(name) or datasets.Dataset.from_dict({"text": ["x"]}))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    for local in ("data/corpus.txt", "./corpus", "./runs/corpus", "runs/a/corpus", "a/b/c"):
        with pytest.raises(FileNotFoundError, match=f"corpus file or folder {local} does not exist"):
            load_corpus(local)
    assert load_corpus("someorg/somecorpus")["text"] == ["x"]  # a hub name still goes to the hub
    assert load_corpus("runs/corpus")["text"] == ["x"]  # hub-shaped: the hub, even though runs/ exists here
    assert asked == ["someorg/somecorpus", "runs/corpus"]


def test_hub_name_with_a_local_folder_of_the_orgs_name_goes_to_the_hub(no_hub, tmp_path, monkeypatch, capsys):
    from babybias.helpers.paths import local_or_hub

    monkeypatch.chdir(tmp_path)
    (tmp_path / "babylm").mkdir()
    assert local_or_hub("babylm/ltgbert-10m-2024", "model folder") == "babylm/ltgbert-10m-2024"
    with pytest.raises(AssertionError, match="sent to the hub: \\('babylm/ltgbert-10m-2024',\\)"):
        main(["evaluate", "babylm/ltgbert-10m-2024", "--benchmarks", "blimp"])  # asked the hub, not "does not exist"
    (tmp_path / "babylm" / "mine").mkdir()
    assert local_or_hub("babylm/mine", "model folder") == Path("babylm/mine")  # an existing folder stays local
    with pytest.raises(FileNotFoundError, match="model folder babylm/x/final does not exist"):
        local_or_hub("babylm/x/final", "model folder")  # deeper paths are local by rule


# ----------------------------------------------------------------------------------- 14: limits, steps


@pytest.mark.parametrize("limit", [0, -1, True, 2.5])
def test_evaluate_rejects_limits_below_one(limit, bert, wp_tok):
    with pytest.raises(ValueError, match=r"limit must be None \(all examples\) or an integer >= 1"):
        evaluate(bert, wp_tok, ["crows_pairs"], limit=limit, progress=False)


@pytest.mark.parametrize("name", ["crows_pairs", "stereoset", "winobias", "blimp", "blimp_supplement", "ewok", "plugin"])
@pytest.mark.parametrize("limit", [0, -1])
def test_every_benchmark_checks_its_limit(name, limit):
    """Called directly (not through evaluate), every benchmark, a user's subclass too, rejects limit < 1 up front."""
    from dataclasses import dataclass

    from babybias.evaluate import Benchmark, get_benchmark

    @dataclass
    class Mine(Benchmark):
        name: str = "mine"

        def evaluate(self, scorer, limit=None):
            return limit

    bench = Mine() if name == "plugin" else get_benchmark(name)
    with pytest.raises(ValueError, match=r"limit must be None \(all examples\) or an integer >= 1"):
        bench.evaluate(None, limit=limit)
    assert Mine().evaluate(None, limit=None) is None and Mine().evaluate(None, 2) == 2


@pytest.mark.parametrize("argv, option", [
    (["evaluate", "m", "--limit", "0"], "--limit"), (["evaluate", "m", "--limit", "-1"], "--limit"),
    (["sandbox", "--blimp-limit", "0"], "--blimp-limit"), (["sandbox", "--steps", "0"], "--steps"),
    (["sandbox", "--steps", "-5"], "--steps"), (["sandbox", "--vocab-size", "0"], "--vocab-size"),
])
def test_cli_rejects_counts_below_one(argv, option, no_hub, no_training, capsys):
    assert main(argv) == 2
    assert f"argument {option}: must be an integer >= 1" in _error_line(capsys)


def test_blimp_limit_all_and_steps_reach_the_config(monkeypatch, capsys):
    import babybias.experiment as experiment

    seen = {}
    monkeypatch.setattr(experiment, "run", lambda config, cells=None: seen.setdefault("config", config) and None)
    assert main(["sandbox", "--blimp-limit", "all", "--steps", "7", "--seeds", "3,5"]) == 0
    assert seen["config"].blimp_limit is None and seen["config"].steps == 7 and seen["config"].seeds == (3, 5)
    seen.clear()
    assert main(["sandbox"]) == 0
    c = seen["config"]  # documented defaults: CDA vs duplication vs baseline, 4 seeds of the sandbox recipe
    assert (c.blimp_limit, c.steps, c.recipe, c.seeds, c.spec.name) == (100, None, "sandbox", (0, 1, 2, 3), "cda")


# ------------------------------------------------------------------------------- 15: one-line errors


def test_unknown_benchmark_is_one_unquoted_line(no_hub, capsys):
    assert main(["evaluate", "org/model", "--benchmarks", "crows_pair"]) == 2
    line = _error_line(capsys)
    assert line.startswith("babybias: error: unknown benchmark 'crows_pair'; registered: blimp,")


def test_malformed_pairs_file_names_file_line_and_field(trained, tmp_path, capsys):
    result, _ = trained
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(PAIRS[0]) + "\n" + json.dumps({"sentence_good": "x"}) + "\n")
    assert main(["evaluate", str(result.final_dir), "--benchmarks", str(bad)]) == 2
    assert f"babybias: error: {bad}, line 2, field 'sentence_bad': missing field" in _error_line(capsys)


def _raising(err: BaseException):
    def func(args):
        raise err
    return func


def _known_user_errors():
    from babybias.cli import CLIError
    from babybias.corpus import CorpusError
    from babybias.evaluate import DataFormatError
    from babybias.evaluate.registry import UnknownBenchmarkError

    return [(CLIError("model folder m has no config.json"), "model folder m has no config.json"),
            (FileNotFoundError("corpus file c.txt does not exist"), "corpus file c.txt does not exist"),
            (UnknownBenchmarkError("unknown benchmark 'x'"), "unknown benchmark 'x'"),
            (DataFormatError("f.jsonl", "missing field", line=2, field="sentence_bad"),
             "f.jsonl, line 2, field 'sentence_bad': missing field"),
            (CorpusError("corpus.csv has no 'text' column"), "corpus.csv has no 'text' column"),
            (ConnectionError("cannot reach the hub"), "ConnectionError: cannot reach the hub")]


@pytest.mark.parametrize("case", range(6))
def test_known_user_errors_print_their_message(case, monkeypatch, capsys):
    import babybias.cli as cli

    err, expected = _known_user_errors()[case]
    monkeypatch.setattr(cli, "_benchmarks", _raising(err))
    assert main(["benchmarks"]) == 2
    assert _error_line(capsys) == f"babybias: error: {expected}"


@pytest.mark.parametrize("err, expected", [
    (KeyError("bias_type"), "KeyError: 'bias_type' (an internal error? rerun with --debug for the traceback)"),
    (ValueError("too many values to unpack"),
     "ValueError: too many values to unpack (an internal error? rerun with --debug for the traceback)"),
    (OSError("org/model is not a local folder"), "OSError: org/model is not a local folder (rerun with --debug for the traceback)"),
])
def test_other_errors_name_their_type_and_the_debug_flag(err, expected, monkeypatch, capsys):
    import babybias.cli as cli

    monkeypatch.setattr(cli, "_benchmarks", _raising(err))
    assert main(["benchmarks"]) == 2
    assert _error_line(capsys) == f"babybias: error: {expected}"
    with pytest.raises(type(err)):
        main(["benchmarks", "--debug"])


def test_bad_sandbox_option_is_a_plain_user_error(no_training, capsys):
    assert main(["sandbox", "--conditions", "duplication"]) == 2
    assert _error_line(capsys) == "babybias: error: the duplication control matches cda's changes: include 'cda' too"
    assert main(["sandbox", "--experiment", "nosuchmodule:Thing"]) == 2
    assert _error_line(capsys).startswith("babybias: error: intervention 'nosuchmodule:Thing': intervention module 'nosuchmodule' cannot be imported: no module named 'nosuchmodule'")
    assert main(["sandbox", "--seeds", "0"]) == 2
    assert "argument --seeds: seeds must be a number of seeds (>= 1)" in _error_line(capsys)
    assert main(["sandbox", "--collect", "./no_such_results"]) == 2
    assert _error_line(capsys).startswith("babybias: error: sandbox output folder ./no_such_results does not exist")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    return subprocess.run([sys.executable, "-m", "babybias.cli", *args], capture_output=True, text=True, cwd=cwd, env=env)


def test_command_exits_2_with_one_line_and_debug_keeps_the_traceback(tmp_path, monkeypatch, capsys):
    plain = _cli("evaluate", "./no_model", cwd=tmp_path)  # a real process: its exit code and stderr
    assert plain.returncode == 2
    assert plain.stderr.strip() == "babybias: error: model folder ./no_model does not exist"
    debug = _cli("--debug", "evaluate", "./no_model", cwd=tmp_path)
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr and "FileNotFoundError" in debug.stderr
    monkeypatch.chdir(tmp_path)  # --debug after the subcommand too: main() lets the error through
    with pytest.raises(FileNotFoundError, match="no_model"):
        main(["evaluate", "./no_model", "--debug"])


# ------------------------------------------------------------------- 19: the user's own benchmarks


def test_minimal_pairs_file_on_the_command_line(trained, tmp_path, capsys):
    from babybias.evaluate import MinimalPairs

    result, tok = trained
    pairs = _write_pairs(tmp_path / "my_pairs.jsonl", PAIRS)
    out = tmp_path / "r.json"
    assert main(["evaluate", str(result.final_dir), "--benchmarks", str(pairs), "--output", str(out)]) == 0
    assert "my_pairs/overall" in capsys.readouterr().out
    python = evaluate(result.model, tok, [MinimalPairs(name="my_pairs", source=pairs)], progress=False).scores
    assert EvaluationResult.from_json(out).scores == pytest.approx(python)


def test_folder_of_pairs_files(trained, tmp_path, capsys):
    result, _ = trained
    folder = tmp_path / "agreement"
    folder.mkdir()
    _write_pairs(folder / "cats.jsonl", PAIRS[:2])
    _write_pairs(folder / "pronouns.jsonl", PAIRS[2:])
    assert main(["evaluate", str(result.final_dir), "--benchmarks", str(folder)]) == 0
    printed = capsys.readouterr().out
    assert "agreement/task/cats" in printed and "agreement/task/pronouns" in printed


def test_pairs_files_are_named_by_their_whole_file_name(trained, tmp_path, capsys):
    result, _ = trained
    v1 = _write_pairs(tmp_path / "a.v1.jsonl", PAIRS[:2])
    v2 = _write_pairs(tmp_path / "a.v2.jsonl", PAIRS[2:])
    assert main(["evaluate", str(result.final_dir), "--benchmarks", str(v1), str(v2)]) == 0
    printed = capsys.readouterr().out
    assert "a.v1/overall" in printed and "a.v2/overall" in printed and "a.v1/task/a.v1" in printed


@pytest.mark.parametrize("items, message", [
    (["x/pairs.jsonl", "y/pairs.jsonl"], "--benchmarks x/pairs.jsonl and y/pairs.jsonl would both be named 'pairs'"),
    (["blimp", "blimp"], "--benchmarks lists blimp twice; give it once"),
    (["blimp", "y/blimp.jsonl"], "--benchmarks blimp and y/blimp.jsonl would both be named 'blimp'"),
])
def test_benchmark_name_collision_fails_before_the_model_loads(items, message, no_hub, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        _write_pairs(tmp_path / folder / "pairs.jsonl", PAIRS)
    _write_pairs(tmp_path / "y" / "blimp.jsonl", PAIRS)
    assert main(["evaluate", "org/model", "--benchmarks", *items]) == 2  # no_hub: the model is never asked for
    line = _error_line(capsys)
    assert message in line and "name=" not in line


PLUGIN = '''
from babybias.evaluate import MinimalPairs, register
register(MinimalPairs(name="{name}", source=r"{source}"))
'''


@pytest.mark.parametrize("as_module", [False, True])
def test_plugin_registers_benchmarks(as_module, trained, tmp_path, monkeypatch, capsys, clean_registry):
    result, _ = trained
    pairs = _write_pairs(tmp_path / "pairs.jsonl", PAIRS)
    plugin = tmp_path / "my_bench_plugin.py"
    plugin.write_text(PLUGIN.format(name="my_agreement", source=pairs))
    if as_module:
        monkeypatch.chdir(tmp_path)  # a module name is found on sys.path or in the current folder
        spec = "my_bench_plugin"
    else:
        spec = str(plugin)
    assert main(["benchmarks", "--plugin", spec]) == 0
    assert "my_agreement" in capsys.readouterr().out
    REGISTRY._entries.pop("my_agreement")
    sys.modules.pop("my_bench_plugin", None)
    assert main(["evaluate", str(result.final_dir), "--plugin", spec, "--benchmarks", "my_agreement", "blimp",
                 "--limit", "1"]) == 0
    captured = capsys.readouterr()
    assert "my_agreement/overall" in captured.out and "blimp/overall" in captured.out
    assert f"plugin {spec}: registered my_agreement" in captured.err


def test_plugin_package_in_the_current_folder_is_imported(tmp_path, monkeypatch, capsys, clean_registry):
    """``--plugin mybench`` with a package ``mybench/`` here is a module name, not "a folder"."""
    pairs = _write_pairs(tmp_path / "pairs.jsonl", PAIRS)
    package = tmp_path / "mybench_plugin_pkg"
    package.mkdir()
    (package / "__init__.py").write_text(PLUGIN.format(name="my_pkg_agreement", source=pairs))
    monkeypatch.chdir(tmp_path)
    assert main(["benchmarks", "--plugin", "mybench_plugin_pkg"]) == 0
    captured = capsys.readouterr()
    assert "my_pkg_agreement" in captured.out
    assert "plugin mybench_plugin_pkg: registered my_pkg_agreement" in captured.err
    assert main(["benchmarks", "--plugin", "./mybench_plugin_pkg"]) == 2  # written as a path, it is a folder
    assert "plugin ./mybench_plugin_pkg is a folder" in _error_line(capsys)


@pytest.mark.parametrize("spec, message", [
    ("no_such_plugin_module", "plugin module 'no_such_plugin_module' cannot be imported: no module named"),
    ("./no_such_plugin.py", "plugin file ./no_such_plugin.py does not exist"),
])
def test_missing_plugin_is_one_line(spec, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["benchmarks", "--plugin", spec]) == 2
    assert message in _error_line(capsys)


def test_missing_pairs_file_is_one_line(no_hub, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "org/model", "--benchmarks", "mine.jsonl"]) == 2
    assert "minimal-pairs file mine.jsonl does not exist" in _error_line(capsys)


def test_docs_commands_parse():
    """Every ``babybias`` line in docs/cli.md's bash blocks is accepted by the parser (options do not drift)."""
    import re
    import shlex

    from babybias.cli import build_parser

    doc = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    lines = [l for block in re.findall(r"```bash\n(.*?)```", doc, re.S) for l in block.splitlines()
             if l.startswith("babybias ")]
    assert len(lines) >= 6
    for line in lines:
        build_parser().parse_args(shlex.split(line)[1:])
