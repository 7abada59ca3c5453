"""A crafted model folder with checksums forged to match (whoever can write the folder can write
``checksums.json`` too): every rung's every model file, cut short, is refused at once with one line that
names the file, never a hang, an unbounded allocation or a traceback (issue 28)."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from test_api import RUNGS, quick_params, tiny

from textladder.errors import TextladderError
from textladder.files import write_checksums
from textladder.layout import CHECKSUMS
from textladder.models import get, load_folder

SECONDS = 5.0


def _refusal(folder: Path, texts: list[str]) -> tuple[BaseException | None, float]:
    """What loading ``folder`` and predicting ``texts`` raises, and how long it took (in a thread: a hang
    fails the test instead of stopping the suite)."""
    outcome: dict = {}

    def load() -> None:
        try:
            load_folder(folder).predict_proba(texts)
        except BaseException as exc:  # noqa: BLE001 - what it raises is what the test checks
            outcome["error"] = exc

    started = time.time()
    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(SECONDS * 4)
    if worker.is_alive():
        pytest.fail(f"{folder}: loading a forged model still runs after {SECONDS * 4:.0f} s")
    return outcome.get("error"), time.time() - started


@pytest.mark.parametrize("name", RUNGS)
def test_every_model_file_of_every_rung_cut_short_with_forged_checksums_is_refused(name, tmp_path, tiny_encoder,
                                                                                   model_cache):
    texts, labels = tiny()
    model = get(name)(**quick_params(name, tiny_encoder)).fit(texts[:60], labels[:60], texts[60:], labels[60:])
    model.save(tmp_path / "model")
    files = sorted(p.relative_to(tmp_path / "model") for p in (tmp_path / "model").rglob("*")
                   if p.is_file() and p.name != CHECKSUMS)
    assert files
    for rel in files:
        size = (tmp_path / "model" / rel).stat().st_size
        for keep in sorted({min(200, size // 2), size // 2}):
            folder = tmp_path / f"cut-{str(rel).replace('/', '-')}-{keep}"
            shutil.copytree(tmp_path / "model", folder)
            target = folder / rel
            target.write_bytes(target.read_bytes()[:keep])
            write_checksums(folder)  # forged: the checksums match the crafted bytes
            error, seconds = _refusal(folder, texts[:5])
            assert isinstance(error, TextladderError), f"{rel} cut to {keep} bytes: {error!r}"
            message = str(error)
            assert "\n" not in message and seconds < SECONDS, (rel, keep, message, seconds)
            assert rel.name in message or folder.name in message, (rel, keep, message)


def test_every_file_of_an_ensemble_and_its_members_cut_short_with_forged_checksums_is_refused(small_csv, tmp_path):
    import textladder

    runs = tmp_path / "runs"
    members = [textladder.train(small_csv, out=runs, min_df=1),
               textladder.train(small_csv, model="fasttext", out=runs, epochs=5)]
    made = textladder.ensemble(members, vote="stack", out=runs).path / "model"
    files = sorted(p.relative_to(made) for p in made.rglob("*") if p.is_file() and p.name != CHECKSUMS)
    assert any("members" in str(f) for f in files) and len(files) >= 5
    texts, _ = tiny()
    for rel in files:
        folder = tmp_path / f"cut-{str(rel).replace('/', '-')}"
        shutil.copytree(made, folder)  # (a copy: the members' files are hard links to the member runs')
        target = folder / rel
        target.unlink()
        target.write_bytes((made / rel).read_bytes()[:(made / rel).stat().st_size // 2])
        for sums in folder.rglob(CHECKSUMS):  # forged at every level: the ensemble's and each member's
            write_checksums(sums.parent)
        error, seconds = _refusal(folder, texts[:5])
        assert isinstance(error, TextladderError), f"{rel}: {error!r}"
        assert "\n" not in str(error) and seconds < SECONDS, (rel, str(error), seconds)
