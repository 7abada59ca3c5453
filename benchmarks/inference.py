"""Batch inference speed on the 6,000-row HappyDB test split: every rung given, side by side with
what a user would otherwise run.

    .venv/bin/python benchmarks/inference.py --runs RUN[,RUN...] [--transformer RUN] [--rounds 2]

For each run: texts per second of ``model.predict_proba`` on the test texts (the model loaded
once beforehand; length-sorted batches padded to their own longest). Beside them, in the same
process and rounds:
- fastText runs: fastText's own ``predict`` (k=-1) on the same lines;
- ``--transformer RUN``: our PyTorch path, our ONNX fp32 and int8 paths (``textladder export RUN
  --onnx --int8`` first), and Hugging Face ``pipeline("text-classification")`` on a model folder
  with the run's fine-tuned encoder weights (HF's own head: pooler + linear, the same compute as
  ours within a fraction of a percent; only speed is compared), at its default batch size 1 and
  at batch size 32. Accuracy of each path is printed too (the pipeline's head is untrained: -).
The best of ``--rounds`` rounds counts; rounds alternate between the paths (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import machine, print_table

from textladder.data.dataset import encode
from textladder.runs import run_test_split
from textladder.runs import Run


def _hf_folder(run: Run, folder: Path) -> Path:
    """A BertForSequenceClassification folder holding the run's fine-tuned encoder weights."""
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    src = run.path / "model" / "encoder"
    config = AutoConfig.from_pretrained(str(src), num_labels=len(run.classes))
    hf = AutoModelForSequenceClassification.from_config(config)
    os.environ["TEXTLADDER_RUNTIME"] = "torch"
    ours = run.load_model()
    missing = hf.base_model.load_state_dict(ours.net_.encoder.state_dict(), strict=False)
    assert not [k for k in missing.missing_keys if not k.startswith("pooler")], missing
    hf.save_pretrained(str(folder))
    AutoTokenizer.from_pretrained(str(src)).save_pretrained(str(folder))
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default="")
    ap.add_argument("--transformer", type=Path, default=None)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    paths = [Path(p) for p in args.runs.split(",") if p]
    first = Run.open(paths[0] if paths else args.transformer)
    test = run_test_split(first)
    X = test.frame()
    y = encode(test.labels, first.classes)
    texts = [str(t) for t in test.texts]
    contenders = {}  # name -> (callable returning predicted indices or None, note)

    def ours(run: Run, runtime: str):
        os.environ["TEXTLADDER_RUNTIME"] = runtime
        model = run.load_model()
        return lambda: model.predict_proba(X).argmax(1)

    for p in paths:
        run = Run.open(p)
        contenders[f"{run.config.model} ({run.name[-4:]})"] = ours(run, "torch")
        if run.config.model == "fasttext":
            model = run.load_model()
            lines = model._lines(X)
            index = {f"__label__{i}": i for i in range(len(run.classes))}
            contenders["  fastText's own predict"] = (
                lambda m=model, lines=lines: np.array([index[ls[0]] for ls in m.model_.predict(lines, k=1)[0]]))
    tmp = None
    if args.transformer is not None:
        run = Run.open(args.transformer)
        contenders["transformer, ours (PyTorch)"] = ours(run, "torch")
        for rt, name in (("onnx", "ONNX fp32"), ("onnx-int8", "ONNX int8")):
            if (run.path / "model" / "onnx" / ("model.onnx" if rt == "onnx" else "model.int8.onnx")).is_file():
                contenders[f"transformer, ours ({name})"] = ours(run, rt)
        from transformers import pipeline

        tmp = tempfile.TemporaryDirectory()
        folder = _hf_folder(run, Path(tmp.name))
        for bs in (1, 32):
            pipe = pipeline("text-classification", model=str(folder), device=-1, top_k=None, batch_size=bs)
            contenders[f"  HF pipeline, batch {bs}"] = (lambda pipe=pipe: (pipe(texts, truncation=True,
                                                                                 max_length=128), None)[1])
    best = {k: float("inf") for k in contenders}
    correct = {}
    for r in range(args.rounds):
        for name, fn in contenders.items():
            t = time.perf_counter()
            pred = fn()
            best[name] = min(best[name], time.perf_counter() - t)
            if pred is not None:
                correct[name] = float((np.asarray(pred) == y).mean())
            print(f"round {r + 1}: {name}: {len(texts) / best[name]:.0f} texts/s", flush=True)
    rows = []
    hf = best.get("  HF pipeline, batch 1")
    for name in contenders:
        row = {"path": name, "seconds": f"{best[name]:.2f}", "texts/s": f"{len(texts) / best[name]:.0f}",
               "test acc": f"{correct[name]:.4f}" if name in correct else "-"}
        if hf is not None and name.startswith(("transformer", "  HF")):
            row["x HF pipeline (batch 1)"] = f"{hf / best[name]:.2f}"
        else:
            row["x HF pipeline (batch 1)"] = "-"
        rows.append(row)
    print_table(rows, f"batch inference on the HappyDB test split ({len(texts):,} texts), best of {args.rounds} "
                      f"rounds; {machine()}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
