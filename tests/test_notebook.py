"""examples/quickstart.ipynb runs top to bottom, offline, on a 600-row slice of HappyDB (issue 14)."""

from __future__ import annotations

import os

import pytest
from conftest import HM_TRAIN, ROOT


def test_the_quickstart_notebook_runs(hm_train, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    notebook = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    env_before = dict(os.environ)
    os.environ.update(TEXTLADDER_DATA=str(HM_TRAIN), TEXTLADDER_QUICKSTART_ROWS="600", HF_HUB_OFFLINE="1",
                      TEXTLADDER_CACHE=str(tmp_path / "cache"), MPLBACKEND="Agg")
    try:
        NotebookClient(notebook, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT / "examples")}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "\n".join(str(o.get("data", {}).get("text/plain", "")) + o.get("text", "") for o in outputs)
    assert "ensemble" in text and "attention" in text and "exercise" in text and "calibration error" in text
