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


DRIVER = textwrap.dedent(
    """
    import json, subprocess, sys, traceback
    page, blocks = sys.argv[1], json.load(open(sys.argv[2]))
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


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_code_blocks_run(page: Path, tmp_path: Path) -> None:
    import json

    blocks = blocks_to_run(page, long=os.environ.get("BABYBIAS_DOCS_LONG") == "1")
    if not blocks:
        pytest.skip(f"{page.name} has no code block to run without the hub or a GPU")
    for entry in REPO.iterdir():
        if not entry.name.startswith("."):
            (tmp_path / entry.name).symlink_to(entry)
    (tmp_path / "_driver.py").write_text(DRIVER)
    (tmp_path / "_blocks.json").write_text(json.dumps(blocks))
    env = os.environ | {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                        "CUDA_VISIBLE_DEVICES": "", "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1",
                        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run([sys.executable, "_driver.py", str(page.relative_to(REPO)), "_blocks.json"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{page.name}: a code block failed\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"


def test_skip_markers_are_the_only_way_out(tmp_path: Path) -> None:
    """The marker is read from a block's first line only, and unmarked blocks are all kept."""
    page = tmp_path / "page.md"
    page.write_text("```python\n# needs the hub: downloads\nx = 1\n```\n\n```python\ny = 2  # needs the hub\n```\n\n"
                    "```bash\n# long-running: sandbox\nbabybias sandbox\n```\n\n```text\nnot code\n```\n")
    assert [(l, c) for l, _, c in blocks_to_run(page, long=False)] == [(6, "y = 2  # needs the hub\n")]
    assert [l for l, _, _ in blocks_to_run(page, long=True)] == [6, 10]
