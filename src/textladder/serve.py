"""Serve a run (any rung, or an ensemble) over HTTP with FastAPI.

``POST /predict`` takes ``{"texts": [...], "period": [...]}`` (period only for runs trained with
``--features period``) and returns, per text, the label and the probability of every class.
``GET /health``, ``GET /labels`` and ``GET /model`` (the run's config and metrics) describe it;
the OpenAPI docs are at ``/docs``. The model is loaded once, when the app is made. One thread
runs it: requests queue for it, and whatever has queued while it was busy is answered together,
in one batch (up to ``max_batch`` texts) - so one client pays no waiting, and many concurrent
clients share the batch sorting and padding of batch prediction.

Limits, each answered with a JSON ``{"error": ...}``: an empty ``texts`` list (422), more texts
than ``max_batch`` (413), a text longer than ``max_chars`` characters (413, or cut to
``max_chars`` when ``truncate`` is set), wrong types (422).

Example:
    >>> from fastapi.testclient import TestClient  # doctest: +SKIP
    >>> client = TestClient(create_app("runs/tfidf-linear-..."))  # doctest: +SKIP
    >>> client.post("/predict", json={"texts": ["I ran 5 miles"]}).json()["predictions"][0]["label"]  # doctest: +SKIP
    'exercise'
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, Field

from textladder.runs import Run

log = logging.getLogger("textladder")

MAX_BATCH, MAX_CHARS = 1000, 10_000
ENV = "TEXTLADDER_SERVE"  # JSON of create_app's arguments, for uvicorn's worker processes


class PredictRequest(BaseModel):
    texts: list[str] = Field(description="the texts to classify")
    period: list[str] | None = Field(None, description="one reflection period per text (runs trained with "
                                                       "--features period)")


class Prediction(BaseModel):
    label: str
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    predictions: list[Prediction]
    run: str
    seconds: float


class Batcher:
    """Run ``predict`` (a DataFrame -> probabilities) on one thread; calls from many threads that
    arrive while it is busy are joined into one call (at most ``max_texts`` rows), then split again.

    Example:
        >>> b = Batcher(lambda X: X[["x"]].to_numpy() * 2)
        >>> b(pd.DataFrame({"x": [1, 2]})).tolist()
        [[2], [4]]
    """

    def __init__(self, predict, max_texts: int = MAX_BATCH):
        import queue

        self.predict, self.max_texts = predict, max_texts
        self.queue: queue.Queue = queue.Queue()
        self.calls = self.batches = 0
        threading.Thread(target=self._loop, daemon=True, name="textladder-batcher").start()

    def __call__(self, frame: pd.DataFrame):
        from concurrent.futures import Future

        future: Future = Future()
        self.queue.put((frame, future))
        return future.result()

    def _loop(self) -> None:
        import queue

        while True:
            items = [self.queue.get()]
            rows = len(items[0][0])
            while rows < self.max_texts:  # take what queued meanwhile; never wait for more
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                items.append(item)
                rows += len(item[0])
            self.calls += len(items)
            self.batches += 1
            try:
                proba = self.predict(pd.concat([f for f, _ in items], ignore_index=True))
            except Exception as exc:  # noqa: BLE001 - handed to every waiting request
                for _, future in items:
                    future.set_exception(exc)
                continue
            start = 0
            for frame, future in items:
                future.set_result(proba[start:start + len(frame)])
                start += len(frame)


def create_app(run_path: str | Path, max_batch: int = MAX_BATCH, max_chars: int = MAX_CHARS,
               truncate: bool = False):
    """A FastAPI app answering for the run in ``run_path`` (loaded now, once)."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    run = Run.open(run_path)
    started = time.time()
    model = run.load_model()
    log.info("serving %s (%s), loaded in %.1f s", run.name, run.config.model, time.time() - started)
    needs_period = "period" in run.config.features
    batcher = Batcher(model.predict_proba, max_batch)
    app = FastAPI(title="textladder", version="1", description=f"Predictions of run {run.name} "
                  f"({run.config.model}); classes: {', '.join(run.classes)}.")
    app.state.batcher = batcher

    class Refused(Exception):
        def __init__(self, status: int, message: str):
            self.status, self.message = status, message

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused):
        return JSONResponse(status_code=exc.status, content={"error": exc.message})

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if p != "body")
        return JSONResponse(status_code=422, content={"error": f"{where or 'body'}: {first['msg']}",
                                                      "details": jsonable(exc.errors())})

    @app.get("/health")
    def health():
        return {"status": "ok", "run": run.name}

    @app.get("/labels")
    def labels():
        return {"labels": run.classes}

    @app.get("/model")
    def model_info():
        m = run.metrics
        config = run.config.model_dump(mode="json")
        config["data"]["path"] = Path(config["data"]["path"]).name  # the file's name and hash: no server paths
        return {"run": run.name, "config": config,
                "metrics": {part: {k: m[part][k] for k in ("n", "accuracy", "macro_f1", "weighted_f1")}
                            for part in ("val", "test") if part in m},
                "train_seconds": m.get("train_seconds"), "limits": {"max_batch": max_batch,
                                                                   "max_chars": max_chars, "truncate": truncate}}

    @app.post("/predict", response_model=PredictResponse)
    def predict(request: PredictRequest):
        texts = request.texts
        if not texts:
            raise Refused(422, "texts: give at least one text")
        if len(texts) > max_batch:
            raise Refused(413, f"texts: {len(texts):,} texts, more than the limit of {max_batch:,} per request")
        too_long = [i for i, t in enumerate(texts) if len(t) > max_chars]
        if too_long and not truncate:
            raise Refused(413, f"texts[{too_long[0]}]: {len(texts[too_long[0]]):,} characters, more than the "
                               f"limit of {max_chars:,} ({len(too_long)} such texts)")
        frame = pd.DataFrame({"text": [t[:max_chars] for t in texts]})
        if request.period is not None and len(request.period) != len(texts):
            raise Refused(422, f"period: {len(request.period)} values for {len(texts)} texts")
        if needs_period:
            if request.period is None:
                raise Refused(422, "period: this run was trained with --features period; give one per text")
            frame["period"] = request.period
        t = time.time()
        proba = batcher(frame)
        classes = run.classes
        return {"predictions": [{"label": classes[int(row.argmax())],
                                 "probabilities": {c: round(float(p), 6) for c, p in zip(classes, row)}}
                                for row in proba],
                "run": run.name, "seconds": round(time.time() - t, 4)}

    return app


def jsonable(errors: list[dict]) -> list[dict]:
    """Validation errors with only JSON-safe values."""
    return [{k: (v if isinstance(v, (str, int, float, list, type(None))) else str(v)) for k, v in e.items()
             if k in ("loc", "msg", "type")} for e in errors]


def app_from_env():
    """The app for uvicorn's worker processes (``--workers N``): the settings come from ``$TEXTLADDER_SERVE``."""
    return create_app(**json.loads(os.environ[ENV]))


def serve(run_path: str | Path, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          max_batch: int = MAX_BATCH, max_chars: int = MAX_CHARS, truncate: bool = False) -> None:
    """Run uvicorn until interrupted; ``workers`` > 1 starts that many processes, each with the model."""
    import uvicorn

    Run.open(run_path)  # a clear error now, not in a worker
    os.environ[ENV] = json.dumps({"run_path": str(Path(run_path).resolve()), "max_batch": max_batch,
                                  "max_chars": max_chars, "truncate": truncate})
    uvicorn.run("textladder.serve:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="info")
