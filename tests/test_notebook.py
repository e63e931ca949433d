"""notebooks/first_hour.ipynb: committed clean, and runs top to bottom on a demo lake.

The notebook runs headless in a kernel of this very interpreter (the venv's): a kernel spec
written to a temporary Jupyter path points at ``sys.executable``, so nothing depends on the
kernels installed on the machine.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from resolvers.demo_data import FeedSummary, build_feed
from resolvers.ingest import ingest_files
from resolvers.lake.storage import Lake
from resolvers.timeutil import isoformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "first_hour.ipynb"
KERNEL = "assetlake-test-venv"


def kernel_spec(root: Path) -> Path:
    """A Jupyter data folder holding one kernel spec: this interpreter running ipykernel."""
    folder = root / "kernels" / KERNEL
    folder.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "assetlake (test venv)",
        "language": "python",
    }
    (folder / "kernel.json").write_text(json.dumps(spec))
    return root


def text_of(cell: Any) -> str:
    """Everything a code cell printed or showed as text."""
    parts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            parts.append(output["text"])
        elif output["output_type"] in ("execute_result", "display_data"):
            parts.append(output["data"].get("text/plain", ""))
    return "\n".join(parts)


def tagged(notebook: Any, tag: str) -> Any:
    """The one cell with this tag."""
    cells = [c for c in notebook.cells if tag in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r}"
    return cells[0]


def test_the_committed_notebook_has_no_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert "ASSETLAKE_LAKE" in "".join(cell.source for cell in code)
    prose = "".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    assert "no principal" in prose and "assetlake history" in prose


@pytest.fixture
def demo_lake(corpus: Path, tmp_path: Path) -> tuple[Lake, FeedSummary]:
    """A lake holding a week of demo feed messages ending now."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    summary = build_feed(corpus, tmp_path / "feed.jsonl", now)
    lake = Lake(str(tmp_path / "lake"))
    ingest_files(lake, [summary.path])
    return lake, summary


def run_notebook(workdir: Path) -> Any:
    """The notebook executed top to bottom in ``workdir`` (the lake from the environment)."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    return notebook


@pytest.mark.slow
def test_the_notebook_runs_on_a_demo_lake(
    demo_lake: tuple[Lake, FeedSummary], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake, summary = demo_lake
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_spec(tmp_path / "jupyter")))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    python_path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(python_path))
    monkeypatch.setenv("ASSETLAKE_LAKE", lake.uri)
    monkeypatch.setenv("ASSETLAKE_NOW", isoformat(summary.now) or "")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("ASSETLAKE_ASSET", raising=False)
    notebook = run_notebook(tmp_path)

    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    for tag in ("inventory-chart", "changes-chart"):
        assert any("image/png" in o.get("data", {}) for o in tagged(notebook, tag).outputs)
    assert f"{summary.assets - len(summary.deleted)} assets exist now" in text_of(
        tagged(notebook, "inventory-chart")
    )
    assert "(no principal) via event" in text_of(tagged(notebook, "who"))

    history = text_of(tagged(notebook, "history"))
    assert f"assetlake history '{summary.public_bucket}'" in history
    assert "allUsers" in history and "uniformBucketLevelAccess.enabled: true -> false" in history

    as_of = text_of(tagged(notebook, "as-of"))
    deleted = as_of.split("deleted since yesterday:")[1].split("changed since yesterday:")[0]
    assert sorted(line.strip("- ").strip() for line in deleted.splitlines()[1:] if line) == sorted(
        summary.deleted_last_day
    )
    assert f"+ {summary.recreated}  (re-created)" in as_of
    for key in summary.created_last_day:
        assert f"+ {key}  (" in as_of
    assert "env=prod:" in text_of(tagged(notebook, "tags"))
    assert "--search 0.0.0.0/0:" in text_of(tagged(notebook, "search"))
