"""The GPU acceptance: one command that proves and measures babybias's GPU path.

    python benchmarks/gpu_acceptance.py --out gpu_results                  # on a GPU machine (about 5 minutes)
    python benchmarks/gpu_acceptance.py --device cpu --quick --out /tmp/q  # every stage at toy size (the suite runs it)

Stages, each in its own subprocess with its own timeout (a hung compile or NCCL costs one stage, not the run);
a failed stage is recorded and the next one runs (one at a time on a GPU; two at a time, one thread each, in the
quick mode):

* ``env``: GPU name and memory, versions, and a measured bf16 matrix-product rate (8192³);
* ``correctness``: ``pytest tests/gpu`` on the device (bf16 vs fp32, fast vs eager attention, compiled vs
  eager, exact resume, torchrun vs one process, scorers on the device vs the CPU, bf16 fine-tuning);
* ``throughput``: LTG-BERT base and GPT-BERT base training steps through the real loop (their 100M
  recipes, bf16), eager and compiled: tokens/s, MFU (:mod:`babybias.models.flops`, peak 790 TFLOP/s),
  peak memory; the projected GPU-hours of ``ltg_baseline_100m`` and ``ltg_bert_100m``; and a
  ``torch.profiler`` table of the top 10 kernels of one compiled LTG-BERT step;
* ``evaluation``: full BLiMP (67,000 pairs), CrowS-Pairs and StereoSet dev for a base-size model in bf16;
* ``sandbox``: ``babybias sandbox --recipe sandbox_gpu --seeds 1`` end to end: wall time per cell and the
  primary metric.

Results go to ``OUT/results.json`` (rewritten after every stage) and ``OUT/results.md``; the output of
every stage to ``OUT/log.txt``; the tests' report to ``OUT/junit.xml``: four files. ``--only`` and ``--skip``
choose stages; ``--deadline`` caps the whole run (stages that would start after it are recorded as not run).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGES = ("env", "correctness", "evaluation", "sandbox", "throughput")  # throughput last: its partial runs survive a deadline
#: seconds each stage may run on a GPU / in the CPU quick mode
TIMEOUTS = {"env": (90, 60), "correctness": (240, 150), "throughput": (300, 120), "evaluation": (150, 90),
            "sandbox": (300, 150)}
#: tokens per word of a 16,384-piece tokenizer on the BabyLM corpus, for the GPU-hour projections (an assumption)
TOKENS_PER_WORD = 1.3
#: the Bias Dynamics study's training costs (arXiv 2601.09421; ../shared/references/methods.md)
#: the recipes each measured recipe's MFU projects (the 20-epoch baseline trains the same model as ltg_bert_100m)
PROJECTED = {"ltg_bert_100m": ("ltg_baseline_100m", "ltg_bert_100m"), "gpt_bert_100m": ("gpt_bert_100m",)}
STUDY_GPU_HOURS = {"ltg_baseline_100m": "< 30–40 (20 epochs)", "ltg_bert_100m": "≈ 500 (LTG-BERT, ≈ 1,500 epochs)"}


def write_json(path: Path, data) -> None:
    """Atomically replace ``path`` with ``data`` as JSON. (The orchestrator imports neither torch nor babybias, so
    a broken install on a bare machine still leaves its results file; hence not ``atomic_write_text``.)"""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------- workers
def _device(args):
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda but torch sees no CUDA device")
    return torch.device(args.device)


def stage_env(args, record: dict, save) -> None:
    import torch
    import transformers

    record["python"] = platform.python_version()
    record["torch"] = torch.__version__
    record["cuda"] = torch.version.cuda
    record["transformers"] = transformers.__version__
    for name in ("datasets", "pyarrow", "tokenizers", "numpy", "scipy", "sklearn", "pandas", "accelerate"):
        try:
            record[name] = __import__(name).__version__
        except Exception as e:  # noqa: BLE001 - a missing package is a finding
            record[name] = f"missing ({type(e).__name__})"
    record["cpus"] = os.cpu_count()
    if args.device == "cuda":
        device = _device(args)
        props = torch.cuda.get_device_properties(device)
        record["gpu"] = props.name
        record["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        record["multiprocessors"] = props.multi_processor_count
        n = 4096 if args.quick else 8192
        a, b = (torch.randn(n, n, device=device, dtype=torch.bfloat16) for _ in range(2))
        for _ in range(3):
            a @ b
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(10):
            a @ b
        torch.cuda.synchronize()
        record["bf16_matmul_tflops"] = round(10 * 2 * n**3 / (time.perf_counter() - start) / 1e12, 1)


def stage_correctness(args, record: dict, save) -> None:
    import xml.etree.ElementTree as ET

    junit = Path(args.out) / "junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}  # one process, even inside pytest -n
    env.update(BABYBIAS_TEST_DEVICE=args.device, PYTHONUNBUFFERED="1")
    # "-o addopts=": one process (the suite's -n needs pytest-xdist, which a bare device image lacks)
    proc = subprocess.run([sys.executable, "-m", "pytest", str(REPO / "tests" / "gpu"), "-q", "-p", "no:cacheprovider",
                           "-o", "addopts=", "-rfE", f"--junitxml={junit}", "-o", "junit_family=xunit1"], cwd=REPO,
                          env=env)
    tests = []
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            outcome = "passed"
            for tag in ("failure", "error", "skipped"):
                node = case.find(tag)
                if node is not None:
                    outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                    message = (node.get("message") or "")[:300]
                    break
            tests.append({"test": case.get("name"), "outcome": outcome, "seconds": round(float(case.get("time", 0)), 2),
                          **({"message": message} if outcome != "passed" else {})})
    record["tests"] = tests
    record["passed"] = sum(t["outcome"] == "passed" for t in tests)
    record["not_passed"] = [t["test"] for t in tests if t["outcome"] != "passed"]
    if proc.returncode != 0:
        raise RuntimeError(f"pytest tests/gpu exited with {proc.returncode}: {record['not_passed']}")


def _shipped_tokenizer(kind: str, vocab_size: int, quick: bool = False):
    """The shipped Wikipedia sample (its first 2,000 sentences in the quick mode) and a tokenizer trained on it."""
    from babybias.experiment import shipped_corpus
    from babybias.models import train_tokenizer

    corpus = shipped_corpus()
    if quick:
        corpus = corpus.select(range(2000))
    return corpus, train_tokenizer(corpus["text"], vocab_size=vocab_size, kind=kind, min_frequency=2, lowercase=True)


class _ProfileOneStep:
    """A loop callback that profiles the step after ``at`` (host and device) and keeps the top kernels."""

    def __init__(self, at: int, device_type: str) -> None:
        self.at, self.device_type, self.profiler, self.table, self.step_seconds = at, device_type, None, None, None

    def on_step_end(self, step: int, model) -> None:
        import torch
        from torch.profiler import ProfilerActivity, profile

        if step == self.at:
            activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self.device_type == "cuda" else [])
            self.profiler = profile(activities=activities)
            if self.device_type == "cuda":
                torch.cuda.synchronize()
            self.started = time.perf_counter()
            self.profiler.__enter__()
        elif step == self.at + 1 and self.profiler is not None:
            if self.device_type == "cuda":
                torch.cuda.synchronize()
            self.profiler.__exit__(None, None, None)
            self.step_seconds = time.perf_counter() - self.started
            self.table = kernel_table(self.profiler, self.device_type)


def kernel_table(profiler, device_type: str, rows: int = 10) -> dict:
    """The top ``rows`` kernels (device time; CPU ops on the CPU) of a finished profiler, and the totals."""
    events = profiler.key_averages()

    def device_time(e) -> float:
        return float(getattr(e, "self_device_time_total", getattr(e, "self_cuda_time_total", 0.0)) or 0.0)

    def cpu_time(e) -> float:
        return float(e.self_cpu_time_total or 0.0)

    measure = device_time if device_type == "cuda" else cpu_time
    if device_type == "cuda":  # the kernels themselves: an operator's row repeats its kernels' device time
        import torch

        kernels = [e for e in events if getattr(e, "device_type", None) == torch.autograd.DeviceType.CUDA]
        events = kernels or events  # a torch without device types on its events: operators and kernels both
        rows_are = "kernels" if kernels else "operators and kernels (counted twice)"
    else:
        rows_are = "CPU operators"
    total = sum(measure(e) for e in events)
    top = sorted(events, key=measure, reverse=True)[:rows]
    return {"device": device_type, "rows_are": rows_are, "total_ms": total / 1000,
            "rows": [{"kernel": e.key[:90], "calls": e.count, "ms": round(measure(e) / 1000, 3),
                      "share": round(measure(e) / total, 4) if total else 0.0} for e in top]}


def stage_throughput(args, record: dict, save) -> None:
    import torch

    from babybias.models.flops import H200_BF16_PEAK_TFLOPS, mfu, training_flops_per_token
    from babybias.train import get_recipe, projected_gpu_hours, recipe_model_config, train

    device = _device(args)
    cuda = device.type == "cuda"
    steps = 6 if args.quick else 24
    runs = record.setdefault("runs", [])
    plan = [("ltg_bert_100m", False), ("gpt_bert_100m", False), ("ltg_bert_100m", True), ("gpt_bert_100m", True)]
    if args.quick:  # the compiled GPT-BERT step runs the same code as LTG-BERT's; tests/gpu compiles its objective
        plan = plan[:3]
    tokenizers = {}
    for name, compiled in plan:
        entry = {"recipe": name, "compile": compiled}
        runs.append(entry)
        try:
            recipe = get_recipe(name)
            kind = "wordpiece" if recipe.model_type == "ltg-bert" else "bpe"
            if kind not in tokenizers:
                tokenizers[kind] = _shipped_tokenizer(kind, 1000 if args.quick else 16384, args.quick)
            corpus, tokenizer = tokenizers[kind]
            overrides = {"vocab_size": 16384} if not args.quick else dict(
                vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)
            config = recipe.replace(model_size=None if args.quick else recipe.model_size, model_overrides=overrides,
                                    batch_rampup=0.0, length_schedule=(), log_every=1 if args.quick else 5,
                                    save_every=10**9, batch_size=8 if args.quick else recipe.batch_size,
                                    seq_length=32 if args.quick else recipe.seq_length,
                                    compile=(("inductor" if cuda else "aot_eager") if compiled else False))
            profiler = _ProfileOneStep(steps - 4, device.type) if name.startswith("ltg") else None
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            start, wall_start = time.perf_counter(), time.time()
            with tempfile.TemporaryDirectory(dir=args.work) as out:
                result = train(config, corpus, tokenizer, out, progress=False, stop_after=steps,
                               callbacks=[profiler] if profiler else ())
            entry["wall_seconds"] = round(time.perf_counter() - start, 1)
            warm = [h for h in result.history if steps // 2 < h["step"] <= steps - 4] \
                or result.history[-1:]
            rate = statistics.median(h["tokens_per_second"] for h in warm)
            model_config = recipe_model_config(config, len(tokenizer))
            flops = training_flops_per_token(model_config, config.seq_length, config.head_fraction())
            entry.update(tokens_per_second=round(rate), flops_per_token=flops, batch=f"{config.batch_size} x {config.seq_length}",
                         parameters=sum(p.numel() for p in result.model.parameters()),
                         first_interval_seconds=round(result.history[0]["time"] - wall_start, 1),
                         final_loss=result.final_loss, peak_tflops=H200_BF16_PEAK_TFLOPS)
            if cuda:
                entry["mfu"] = round(mfu(flops, rate), 4)
                entry["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
            if profiler and profiler.table:
                record.setdefault("profiles", []).append(profiler.table | {"step_seconds": profiler.step_seconds,
                                                                           "recipe": name, "compile": compiled})
            if cuda:  # 100M words at TOKENS_PER_WORD for the epochs recipe; the others count steps
                for target in PROJECTED[name]:
                    record.setdefault("projections", {})[f"{target} ({'compiled' if compiled else 'eager'})"] = round(
                        projected_gpu_hours(get_recipe(target), 16384, entry["mfu"], corpus_tokens=int(100e6 * TOKENS_PER_WORD)), 2)
        except Exception as e:  # noqa: BLE001 - one failed configuration is recorded, the next one runs
            entry["error"] = f"{type(e).__name__}: {e}"[:500]
            traceback.print_exc()
        finally:
            torch._dynamo.reset()
            save()
    failed = [f"{r['recipe']} compile={r['compile']}" for r in runs if "error" in r]
    if failed:
        raise RuntimeError(f"throughput runs failed: {failed}")


def stage_evaluation(args, record: dict, save) -> None:
    import torch

    device = _device(args)  # before the heavy imports: a missing device fails at once
    from babybias.evaluate import evaluate
    from babybias.models import LtgBertConfig, LtgBertForMaskedLM

    _, tokenizer = _shipped_tokenizer("wordpiece", 1000 if args.quick else 16384, args.quick)
    fields = dict(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)
    config = (LtgBertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128, **fields)
              if args.quick else LtgBertConfig.named("ltg-bert-base", **fields))
    torch.manual_seed(0)
    model = LtgBertForMaskedLM(config).eval().to(device=device, dtype=torch.bfloat16)
    record["model"] = "ltg-bert-base (random weights), bf16" if not args.quick else "toy LTG-BERT, bf16"
    limit = 2 if args.quick else None
    batch = dict(batch_size=256, max_tokens=16384) if args.quick else dict(batch_size=2048, max_tokens=131072)
    record["batching"] = batch
    total = 0.0
    for name in ("blimp", "crows_pairs", "stereoset"):
        start = time.perf_counter()
        result = evaluate(model, tokenizer, [name], limit=limit, device=str(device), progress=False, **batch)
        seconds = time.perf_counter() - start
        total += seconds
        record[name] = {"seconds": round(seconds, 1), "items": len(result[name].rows),
                        "overall": next((round(v, 2) for k, v in result.scores.items() if k.endswith(("/overall", "/ss"))), None)}
        save()
    record["total_seconds"] = round(total, 1)


def stage_sandbox(args, record: dict, save) -> None:
    out = Path(args.work) / "sandbox"
    if args.quick:  # 2,000 sentences of the shipped sample, 6 steps, a few items per benchmark
        from babybias.experiment import shipped_corpus

        corpus = Path(args.work) / "quick_corpus.txt"
        corpus.write_text("\n".join(shipped_corpus().select(range(2000))["text"]) + "\n", encoding="utf-8")
        options = ["--recipe", "sandbox", "--steps", "6", "--blimp-limit", "1", "--bias-limit", "8", "--n-resamples", "99",
                   "--vocab-size", "500", "--corpus", str(corpus)]
    else:
        options = ["--recipe", "sandbox_gpu"]
    command = [sys.executable, "-m", "babybias.cli", "sandbox", "--seeds", "1", "--output", str(out), "--quiet", *options]
    record["command"] = "babybias sandbox --seeds 1 " + " ".join(options)
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=args.work)
    while True:  # the finished cells are saved as they come, so a stage cut off at its timeout keeps them
        done = proc.poll() is not None
        record["wall_seconds"] = round(time.perf_counter() - start, 1)
        record["cells"] = _sandbox_cells(out)
        primary = next((c["primary_metric"] for c in record["cells"]), None)
        record["primary_metric"] = primary
        record["primary_values"] = {c["condition"]: c["primary"] for c in record["cells"] if c.get("primary") is not None} or None
        save()
        if done:
            break
        time.sleep(5)
    if proc.returncode != 0:
        raise RuntimeError(f"babybias sandbox exited with {proc.returncode}")


def _sandbox_cells(out: Path) -> list[dict]:
    """Each finished cell of a sandbox folder: its times (corpus, training, evaluation), steps, loss and primary metric."""
    cells = []
    for scores in sorted(out.glob("cells/*/seed-*/scores.json")):
        data = json.loads(scores.read_text())
        primary = data["experiment"].get("primary_metric")
        cells.append({"condition": data["condition"], "seed": data["seed"],
                      "seconds": {k: round(v, 1) for k, v in data["seconds"].items()},
                      "steps": data["train"]["steps"], "final_loss": data["train"]["final_loss"],
                      "primary_metric": primary, "primary": data["scores"].get(primary)})
    return cells


WORKERS = {"env": stage_env, "correctness": stage_correctness, "throughput": stage_throughput,
           "evaluation": stage_evaluation, "sandbox": stage_sandbox}


def run_worker(args) -> int:
    """Run one stage in this process, writing its record to ``--result`` as it goes."""
    path = Path(args.result)
    record: dict = {}

    def save() -> None:
        write_json(path, record)

    try:
        WORKERS[args.worker](args, record, save)
        record["status"] = "ok"
        return 0
    except Exception as e:  # noqa: BLE001 - the stage's failure is its result
        record["status"] = "failed"
        record["error"] = f"{type(e).__name__}: {e}"[:1000]
        traceback.print_exc()
        return 1
    finally:
        save()


# ---------------------------------------------------------------------------------------- orchestrator
def markdown(results: dict) -> str:
    """The results as the markdown that docs/benchmarks.md quotes."""
    meta = results["meta"]
    lines = [f"# GPU acceptance — {meta['date']}", "", f"Command: `{meta['command']}`  ",
             f"Machine: {meta.get('machine', '?')}", "", "| stage | status | seconds |", "|---|---|---:|"]
    for name, st in results["stages"].items():
        lines.append(f"| {name} | {st.get('status')} | {st.get('seconds', '')} |")
    stages = results["stages"]
    env = stages.get("env", {})
    if env.get("status"):
        lines += ["", "Environment: " + ", ".join(f"{k} {env[k]}" for k in (
            "gpu", "gpu_memory_gib", "bf16_matmul_tflops", "torch", "cuda", "transformers", "datasets", "pyarrow", "python")
            if k in env)]
    corr = stages.get("correctness", {})
    if corr.get("tests"):
        lines += ["", "| correctness test | outcome | s |", "|---|---|---:|"]
        lines += [f"| {t['test']} | {t['outcome']}{': ' + t['message'][:120] if t.get('message') else ''} | {t['seconds']} |"
                  for t in corr["tests"]]
    thr = stages.get("throughput", {})
    if thr.get("runs"):
        lines += ["", "| recipe | compiled | batch | tokens/s | MFU | peak GiB | wall s | first interval s |",
                  "|---|---|---|---:|---:|---:|---:|---:|"]
        for r in thr["runs"]:
            if "error" in r:
                lines.append(f"| {r['recipe']} | {r['compile']} | failed: {r['error'][:100]} | | | | | |")
            else:
                lines.append(f"| {r['recipe']} | {r['compile']} | {r['batch']} | {r['tokens_per_second']:,} | "
                             f"{100 * r['mfu']:.1f} % | {r.get('peak_memory_gib', '')} | {r['wall_seconds']} | "
                             f"{r['first_interval_seconds']} |" if "mfu" in r else
                             f"| {r['recipe']} | {r['compile']} | {r['batch']} | {r['tokens_per_second']:,} | — | | "
                             f"{r['wall_seconds']} | {r['first_interval_seconds']} |")
        if thr.get("projections"):
            lines += ["", f"Projected GPU-hours at the measured MFU ({TOKENS_PER_WORD} tokens a word for epochs):", ""]
            lines += [f"- {k}: {v} h" for k, v in thr["projections"].items()]
            lines += [f"- the study: {k} {v} GPU-h" for k, v in STUDY_GPU_HOURS.items()]
        for prof in thr.get("profiles", []):
            lines += ["", f"Top kernels of one {'compiled' if prof['compile'] else 'eager'} `{prof['recipe']}` step ({prof['device']} time "
                      f"{prof['total_ms']:.1f} ms of a {1000 * (prof.get('step_seconds') or 0):.1f} ms step):", "",
                      "| kernel | calls | ms | share |", "|---|---:|---:|---:|"]
            lines += [f"| `{r['kernel']}` | {r['calls']} | {r['ms']} | {100 * r['share']:.1f} % |" for r in prof["rows"]]
    ev = stages.get("evaluation", {})
    if any(k in ev for k in ("blimp", "crows_pairs", "stereoset")):
        lines += ["", f"Evaluation ({ev.get('model')}, {ev.get('batching')}):", ""]
        lines += [f"- {k}: {ev[k]['seconds']} s ({ev[k]['items']} items)" for k in ("blimp", "crows_pairs", "stereoset") if k in ev]
        if "total_seconds" in ev:
            lines.append(f"- total: {ev['total_seconds']} s")
    sb = stages.get("sandbox", {})
    if sb.get("cells"):
        lines += ["", f"Sandbox (`{sb.get('command')}`), wall {sb.get('wall_seconds')} s:", "",
                  "| cell | corpus s | train s | evaluate s | steps | final loss |", "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {c['condition']} seed {c['seed']} | {c['seconds'].get('corpus')} | {c['seconds'].get('train')} | "
                  f"{c['seconds'].get('evaluate')} | {c['steps']} | {c['final_loss']:.3f} |" for c in sb["cells"]]
        if sb.get("primary_values"):
            lines += ["", f"Primary metric `{sb['primary_metric']}` (one seed each): "
                      + ", ".join(f"{k} {v:.3f}" for k, v in sb["primary_values"].items())]
    for name, st in stages.items():
        if st.get("error"):
            lines += ["", f"**{name} failed**: {st['error']}"]
    return "\n".join(lines) + "\n"


class StageProcess:
    """One stage's worker subprocess (its own process group): its output copied line by line to stdout and the
    log, and killed with everything it started once ``timeout`` seconds have passed."""

    def __init__(self, cmd: list[str], timeout: float, log, lock: threading.Lock, prefix: str = "",
                 env: dict[str, str] | None = None) -> None:
        self.timeout, self.t0, self.ended = timeout, time.perf_counter(), None
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, start_new_session=True)
        self.reader = threading.Thread(target=self._copy, args=(log, lock, prefix), daemon=True)
        self.reader.start()

    def _copy(self, log, lock: threading.Lock, prefix: str) -> None:
        for line in self.proc.stdout:  # text mode: a progress bar's \r ends a line too
            with lock:
                sys.stdout.write(prefix + line)
                sys.stdout.flush()
                log.write(prefix + line)
                log.flush()
        self.ended = time.perf_counter()  # the output closes when the worker and what it started have ended

    def wait(self) -> str | None:
        """None when the worker ended by itself, "timeout" when it was killed."""
        try:
            self.proc.wait(timeout=max(0.0, self.timeout - (time.perf_counter() - self.t0)))
            status = None
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            status = "timeout"
        self.reader.join(timeout=10)
        return status


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=False, help="folder for results.json, results.md, log.txt, junit.xml")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--quick", action="store_true", help="every stage at toy size")
    parser.add_argument("--only", help="comma-separated stages to run (default: all)")
    parser.add_argument("--skip", help="comma-separated stages to leave out")
    parser.add_argument("--deadline", type=float, help="seconds for the whole run (default: none)")
    parser.add_argument("--work", help="scratch folder (default: a temporary one)")
    parser.add_argument("--worker", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return run_worker(args)
    if not args.out:
        parser.error("--out DIR is required")
    chosen = [s.strip() for s in args.only.split(",")] if args.only else list(STAGES)
    skipped = {s.strip() for s in args.skip.split(",")} if args.skip else set()
    unknown = [s for s in chosen + sorted(skipped) if s not in STAGES]
    if unknown:
        parser.error(f"unknown stage(s) {unknown}; stages: {', '.join(STAGES)}")
    chosen = [s for s in STAGES if s in chosen and s not in skipped]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="babybias-gpu-"))
    work.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/gpu_acceptance.py " + " ".join(a for a in (argv if argv is not None else sys.argv[1:]))
    results = {"meta": {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                        "command": command, "device": args.device, "quick": args.quick, "host": platform.node(),
                        "cpus": os.cpu_count()},
               "stages": {s: {"status": "pending"} for s in chosen}}
    started = time.perf_counter()
    log = open(out / "log.txt", "a", encoding="utf-8")

    def save() -> None:
        write_json(out / "results.json", results)
        (out / "results.md").write_text(markdown(results))

    save()
    lock = threading.Lock()

    def finish(stage: str, run: "StageProcess") -> None:
        status = run.wait()
        path = work / f"{stage}.json"
        record = json.loads(path.read_text()) if path.exists() else {}
        if status == "timeout":
            record["status"] = f"timeout after {run.timeout:.0f} s"
        elif run.proc.returncode != 0 and record.get("status") != "failed":
            record["status"] = "failed"
            record.setdefault("error", f"exit code {run.proc.returncode}")
        record["seconds"] = round((run.ended or time.perf_counter()) - run.t0, 1)
        results["stages"][stage] = record
        if stage == "env":
            results["meta"]["machine"] = (f"{record['gpu']} ({record.get('gpu_memory_gib')} GiB), {os.cpu_count()} CPUs"
                                          if record.get("gpu") else f"CPU, {os.cpu_count()} cores")
        save()

    # the quick mode runs two stages at a time, one thread each (they are small and mostly Python); a GPU's one at a time
    running: list = []
    for stage in chosen:
        timeout = TIMEOUTS[stage][1 if args.quick else 0]
        if args.deadline is not None:
            left = args.deadline - (time.perf_counter() - started)
            if left < 10:
                results["stages"][stage] = {"status": "not run (deadline)"}
                save()
                continue
            timeout = min(timeout, left)
        (work / f"{stage}.json").unlink(missing_ok=True)
        cmd = [sys.executable, "-u", str(Path(__file__).resolve()), "--worker", stage, "--result", str(work / f"{stage}.json"),
               "--device", args.device, "--out", str(out), "--work", str(work)] + (["--quick"] if args.quick else [])
        with lock:
            print(f"== stage {stage} (timeout {timeout:.0f} s)", flush=True)
            log.write(f"== stage {stage} (timeout {timeout:.0f} s)\n")
            log.flush()
        if args.quick and len(running) == 2:
            finish(*running.pop(0))
        run = StageProcess(cmd, timeout, log, lock, f"[{stage}] " if args.quick else "",
                           env={"OMP_NUM_THREADS": "1"} if args.quick else None)
        if args.quick:
            running.append((stage, run))
        else:
            finish(stage, run)
    for stage, run in running:
        finish(stage, run)
    results["meta"]["seconds"] = round(time.perf_counter() - started, 1)
    save()
    log.close()
    print((out / "results.md").read_text(), flush=True)
    return 0 if all(s.get("status") == "ok" for s in results["stages"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
