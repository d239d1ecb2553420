"""Every code block in README.md and docs/*.md runs as written, on a CPU, without internet.

The blocks of one page run in order, in one Python process with one namespace (like a notebook:
a later block may use what an earlier one made); ``bash`` blocks run with ``bash -e`` in the same
working directory. That directory is a fresh temporary folder holding links to the repository's
top-level entries, so commands written "from the repository root" work and what they write stays
out of the checkout. The hub is switched off (``HF_HUB_OFFLINE=1``) and CUDA hidden.

A block is left out only when its first line says why, in words a reader sees too:

* ``# needs the hub …`` — downloads a model or data set;
* ``# needs a GPU …``;
* ``# long-running …`` — minutes of work (the sandbox); run with ``BABYBIAS_DOCS_LONG=1``;
* ``# run by CI …`` — the install and test commands, which ``.ci/run`` itself runs.

Blocks in other languages (``text``, ``json`` …) are not code and are not run.

A ``babybias …`` command in a bash block runs ``babybias.cli.main`` — what the console script runs — in a
process forked from one that imported babybias once before any block ran (a pristine copy: nothing a
block did reaches it), with the command's own arguments, working directory, environment and standard
streams, and its exit code comes back to bash. Each command thus skips the 4 s of importing torch and
transformers that a fresh interpreter pays; ``BABYBIAS_DOCS_FORK=0`` runs the installed console script instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
SKIP = re.compile(r"^#\s*(needs the hub|needs a GPU|long-running|run by CI)\b", re.I)
RUNNABLE = {"python": "python", "py": "python", "bash": "bash", "sh": "bash", "shell": "bash", "console": "bash"}


def code_blocks(page: Path) -> list[tuple[int, str, str]]:
    """``(line, language, code)`` of every fenced block in ``page`` whose language is runnable."""
    text = page.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        lang = RUNNABLE.get(m.group(1).lower())
        if lang:
            out.append((text.count("\n", 0, m.start()) + 1, lang, m.group(2)))
    return out


def blocks_to_run(page: Path, long: bool) -> list[tuple[int, str, str]]:
    kept = []
    for line, lang, code in code_blocks(page):
        first = code.lstrip().splitlines()[0] if code.strip() else ""
        reason = SKIP.match(first)
        if reason and not (long and reason.group(1).lower() == "long-running"):
            continue
        kept.append((line, lang, code))
    return kept


#: the ``babybias`` on the bash blocks' PATH: hands its arguments, folder, environment and standard streams to the
#: driver's pre-imported server and exits with the exit code it sends back (standard library only: starts in ms)
SHIM = textwrap.dedent(
    """
    import json, os, socket, sys
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(os.environ["BABYBIAS_DOCS_SERVER"])
    request = {"argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ)}
    socket.send_fds(s, [json.dumps(request).encode()], [0, 1, 2])
    sys.exit(int(s.recv(16) or b"1"))
    """
)

DRIVER = textwrap.dedent(
    """
    import atexit, json, os, signal, socket, subprocess, sys, traceback
    page, blocks = sys.argv[1], json.load(open(sys.argv[2]))


    def serve(server):
        # the pre-imported babybias: each request runs in a fork of this pristine process
        import babybias.cli
        while True:
            conn, _ = server.accept()
            message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
            request = json.loads(message)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    os.chdir(request["cwd"])
                    os.environ.clear()
                    os.environ.update(request["env"])
                    for target, fd in enumerate(fds):
                        os.dup2(fd, target)
                    sys.argv = [os.path.join(os.getcwd(), "babybias"), *request["argv"]]
                    code = babybias.cli.main(request["argv"])
                except SystemExit as err:
                    code = err.code if isinstance(err.code, int) else (0 if err.code is None else 1)
                except BaseException:
                    traceback.print_exc()
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(code or 0)
            for fd in fds:
                os.close(fd)
            _, status = os.waitpid(pid, 0)
            conn.send(str(os.waitstatus_to_exitcode(status)).encode())
            conn.close()


    if any(lang == "bash" and "babybias " in code for _, lang, code in blocks) and os.environ.get("BABYBIAS_DOCS_FORK") != "0":
        address = os.path.abspath("_babybias.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        server.bind(address)
        server.listen()
        os.makedirs("_bin", exist_ok=True)
        with open("_bin/babybias", "w") as f:
            f.write(f"#!{sys.executable} -I\\n" + open("_shim.py").read())
        os.chmod("_bin/babybias", 0o755)
        server_pid = os.fork()
        if server_pid == 0:  # before any block runs, so nothing a block does reaches the server
            try:
                serve(server)
            finally:
                os._exit(0)
        atexit.register(os.kill, server_pid, signal.SIGKILL)  # it holds the test's pipes: it ends with the page
        server.close()
        os.environ["BABYBIAS_DOCS_SERVER"] = address
        os.environ["PATH"] = os.path.abspath("_bin") + os.pathsep + os.environ["PATH"]
    namespace = {"__name__": "__main__"}
    for line, lang, code in blocks:
        try:
            if lang == "python":
                exec(compile(code, f"{page}:{line}", "exec"), namespace)
            else:
                subprocess.run(["bash", "-e", "-o", "pipefail", "-c", code], check=True)
        except BaseException:
            traceback.print_exc()
            print(f"DOCS BLOCK FAILED: {page} line {line} ({lang})", file=sys.stderr)
            sys.exit(1)
    """
)


def run_page(page: Path, tmp_path: Path) -> None:
    """Run every runnable block of ``page`` in order (see the module docstring)."""
    import json

    blocks = blocks_to_run(page, long=os.environ.get("BABYBIAS_DOCS_LONG") == "1")
    if not blocks:
        pytest.skip(f"{page.name} has no code block to run without the hub or a GPU")
    for entry in REPO.iterdir():
        if not entry.name.startswith("."):
            (tmp_path / entry.name).symlink_to(entry)
    (tmp_path / "_driver.py").write_text(DRIVER)
    (tmp_path / "_shim.py").write_text(SHIM)
    (tmp_path / "_blocks.json").write_text(json.dumps(blocks))
    env = os.environ | {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                        "CUDA_VISIBLE_DEVICES": "", "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1",
                        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run([sys.executable, "_driver.py", str(page.relative_to(REPO)), "_blocks.json"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{page.name}: a code block failed\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"


def _page_class(page: Path) -> type:
    """``TestPage_<page>.test_code_blocks_run``: one class per page, so ``pytest -n`` (``--dist loadscope``) may run
    the pages on different workers while every other file's tests stay together."""
    name = "TestPage_" + re.sub(r"\W", "_", str(page.relative_to(REPO)))
    return type(name, (), {"test_code_blocks_run": lambda self, tmp_path: run_page(page, tmp_path),
                           "__doc__": f"Every runnable code block of {page.relative_to(REPO)} runs as written."})


for _page in PAGES:
    _cls = _page_class(_page)
    globals()[_cls.__name__] = _cls


def test_skip_markers_are_the_only_way_out(tmp_path: Path) -> None:
    """The marker is read from a block's first line only, and unmarked blocks are all kept."""
    page = tmp_path / "page.md"
    page.write_text("```python\n# needs the hub: downloads\nx = 1\n```\n\n```python\ny = 2  # needs the hub\n```\n\n"
                    "```bash\n# long-running: sandbox\nbabybias sandbox\n```\n\n```text\nnot code\n```\n")
    assert [(l, c) for l, _, c in blocks_to_run(page, long=False)] == [(6, "y = 2  # needs the hub\n")]
    assert [l for l, _, _ in blocks_to_run(page, long=True)] == [6, 10]
