"""Serve a run (any rung, or an ensemble) over HTTP with FastAPI.

``POST /predict`` takes ``{"texts": [...]}`` and, for runs trained with extra inputs, one value per
text of each: ``{"texts": [...], "features": {"country": [...]}}`` (``"period": [...]`` for the
period), and returns, per text, the label and the probability of every class.
``GET /health``, ``GET /labels`` and ``GET /model`` (the run's config and metrics) describe it;
the OpenAPI docs are at ``/docs`` and ``/redoc``, with their JavaScript and CSS served by the
server itself (fastapi-offline), so they work with no network. The model is loaded once, when the
app is made. One thread runs it: requests queue for it, and whatever has queued while it was busy
is answered together, in one batch (up to ``max_batch`` texts) - so one client pays no waiting,
and many concurrent clients share the batch sorting and padding of batch prediction.

Every answer is JSON, and no request gets a 500: an empty ``texts`` list (422), more texts than
``max_batch`` (413), a text longer than ``max_chars`` characters (413, or cut to ``max_chars`` when
``truncate`` is set), wrong types (422), a text that is not valid Unicode (422, naming its index),
a text the model cannot score (422, naming its index and the reason), a body over ``max_body``
bytes (413, refused before it is read), JSON nested deeper than :data:`MAX_DEPTH` (422), a body
that stops arriving (408). Connections whose request headers do not arrive within
``header_timeout`` seconds are closed. With ``api_key`` every endpoint but ``/health`` needs
``Authorization: Bearer KEY`` (401 otherwise); CORS is off unless ``cors_origin`` is given.

Example:
    >>> from fastapi.testclient import TestClient  # doctest: +SKIP
    >>> client = TestClient(create_app("runs/tfidf-linear-..."))  # doctest: +SKIP
    >>> client.post("/predict", json={"texts": ["I ran 5 miles"]}).json()["predictions"][0]["label"]  # doctest: +SKIP
    'exercise'
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from uvicorn.protocols.http.h11_impl import H11Protocol

from textladder.calibration import UNCERTAIN, check_abstention
from textladder.models.base import checked_proba
from textladder.runs import Run

log = logging.getLogger("textladder")

MAX_BATCH, MAX_CHARS = 1000, 10_000
MAX_BODY = 4 * 1024 * 1024  # bytes of one request body
MAX_DEPTH = 16  # JSON nesting; a request needs 2
HEADER_TIMEOUT, BODY_TIMEOUT = 10.0, 30.0  # seconds for a request's headers, and between parts of its body
ENV = "TEXTLADDER_SERVE"  # JSON of create_app's arguments, for uvicorn's worker processes
API_KEY_ENV = "TEXTLADDER_API_KEY"


class PredictRequest(BaseModel):
    texts: list[str] = Field(description="the texts to classify")
    period: list[str] | None = Field(None, description="one reflection period per text (runs trained with "
                                                       "the period as an extra input)")
    features: dict[str, list[str]] | None = Field(None, description="one value per text of each extra input the "
                                                                   "run was trained with, by column name")


class Prediction(BaseModel):
    label: str = Field(description="the most probable class, or 'uncertain' below the server's --min-confidence")
    confidence: float = Field(description="the highest probability")
    uncertain: bool = Field(False, description="true when the confidence is below --min-confidence: the label is "
                                               "withheld, the probabilities are still given")
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    predictions: list[Prediction]
    withheld: int = Field(0, description="how many predictions were withheld as uncertain")
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


_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')  # a JSON string, escapes included


def json_depth(body: bytes) -> int:
    """How deeply ``[`` and ``{`` nest in a JSON text (brackets inside strings do not count).

    Example:
        >>> json_depth(b'{"texts": ["a [b]", "c"]}'), json_depth(b"[[[[1]]]]")
        (2, 4)
    """
    bare = np.frombuffer(_STRINGS.sub(b'""', body), dtype=np.uint8)
    step = np.isin(bare, (0x5B, 0x7B)).astype(np.int64) - np.isin(bare, (0x5D, 0x7D)).astype(np.int64)
    return int(np.cumsum(step).max(initial=0))


class RequestLimits:
    """ASGI middleware, outermost: a body over ``max_body`` bytes is refused (413) before it is read
    (by its Content-Length, or as soon as that many bytes have arrived), JSON nested deeper than
    ``max_depth`` is refused (422), and a body that stops arriving for ``body_timeout`` seconds ends
    the request (408). Memory per request stays under ``max_body``."""

    def __init__(self, app, max_body: int = MAX_BODY, max_depth: int = MAX_DEPTH,
                 body_timeout: float = BODY_TIMEOUT):
        self.app, self.max_body, self.max_depth, self.body_timeout = app, max_body, max_depth, body_timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return await _error(send, 413, f"request body of {length.decode('latin-1')} bytes, more than the "
                                           f"limit of {self.max_body:,}")
        body = bytearray()
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.body_timeout)
            except asyncio.TimeoutError:
                return await _error(send, 408, f"the request body stopped arriving for {self.body_timeout:g} s")
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body:
                return await _error(send, 413, f"request body over the limit of {self.max_body:,} bytes")
            if not message.get("more_body", False):
                break
        if json_depth(bytes(body)) > self.max_depth:
            return await _error(send, 422, f"body: JSON nested deeper than {self.max_depth} levels")
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


async def _error(send, status: int, message: str) -> None:
    payload = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": payload})


class TimedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing a connection whose request headers have not all arrived
    ``HEADER_TIMEOUT`` seconds after it opened (or after its first bytes, on a kept-alive connection):
    slow or half-sent headers cannot hold sockets for ever. uvicorn's own keep-alive timeout still
    closes idle connections between requests."""

    header_timeout = HEADER_TIMEOUT
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _waiting_for_headers(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self._waiting_for_headers():
            self._arm()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)
        if self._header_timer is not None and not self._waiting_for_headers():
            self._header_timer.cancel()  # the headers are in: the request runs
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self._waiting_for_headers() and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)


def _unicode_problem(texts: list[str], field: str = "texts") -> str | None:
    for i, t in enumerate(texts):
        try:
            t.encode("utf-8")
        except UnicodeEncodeError as exc:
            return (f"{field}[{i}]: not valid Unicode (a lone surrogate \\u{ord(t[exc.start]):04x} at character "
                    f"{exc.start}); send UTF-8 text")
    return None


def create_app(run_path: str | Path, max_batch: int = MAX_BATCH, max_chars: int = MAX_CHARS,
               truncate: bool = False, max_body: int = MAX_BODY, api_key: str | None = None,
               cors_origin: str | None = None, docs: bool = True, body_timeout: float = BODY_TIMEOUT,
               runtime: str = "auto", min_confidence: float | None = None, calibrated: bool = True):
    """A FastAPI app answering for the run in ``run_path`` (loaded now, once). ``api_key`` (default
    ``$TEXTLADDER_API_KEY``) makes every endpoint but ``/health`` require it as a bearer token;
    ``cors_origin`` allows browser calls from that one origin; ``docs=False`` turns ``/docs`` off.
    Probabilities are calibrated (``calibrated=False``: the model's own); below ``min_confidence`` a
    prediction's label is ``uncertain``."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from fastapi_offline import FastAPIOffline

    run = Run.open(run_path)
    check_abstention(run.name, run.classes, min_confidence, "serve it")
    started = time.time()
    model = run.load_model(runtime, calibrated)
    model.prepare_to_serve()
    log.info("serving %s (%s), loaded in %.1f s", run.name, run.config.model, time.time() - started)
    extras = list(run.config.features)
    classes = run.classes
    batcher = Batcher(lambda X: checked_proba(model, X, len(classes)), max_batch)
    api_key = api_key if api_key is not None else (os.environ.get(API_KEY_ENV) or None)
    about = {"title": "textladder", "version": "1",
             "description": f"Predictions of run {run.name} ({run.config.model}); classes: {', '.join(classes)}."}
    if docs:
        app = FastAPIOffline(**about)
    else:
        app = FastAPI(**about, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.batcher = batcher
    if cors_origin:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=[cors_origin], allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(RequestLimits, max_body=max_body, body_timeout=body_timeout)  # outermost

    if api_key:
        @app.middleware("http")
        async def _authorise(request: Request, call_next):
            if request.url.path != "/health" and request.method != "OPTIONS":
                given = request.headers.get("authorization", "")
                if not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
                    return JSONResponse(status_code=401, headers={"WWW-Authenticate": "Bearer"},
                                        content={"error": "missing or wrong API key: send 'Authorization: "
                                                          "Bearer KEY'"})
            return await call_next(request)

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

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):  # the last resort: still JSON, still not a 500
        log.error("request to %s failed: %s: %s", request.url.path, type(exc).__name__, exc)
        return JSONResponse(status_code=503, content={"error": f"the server could not answer ({type(exc).__name__}); "
                                                               "try again"})

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
                                                                   "max_chars": max_chars, "truncate": truncate},
                "calibration": {"temperature": run.temperature if calibrated else 1.0, "calibrated": calibrated},
                "min_confidence": min_confidence}

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
        given = dict(request.features or {})
        if request.period is not None:
            given.setdefault("period", request.period)
        problem = _unicode_problem(texts) or next(
            (p for name, values in given.items() if (p := _unicode_problem(values, name))), None)
        if problem:
            raise Refused(422, problem)
        frame = pd.DataFrame({"text": [t[:max_chars] for t in texts]})
        for name, values in given.items():
            if len(values) != len(texts):
                raise Refused(422, f"{name}: {len(values)} values for {len(texts)} texts")
        for name in extras:
            if name not in given:
                raise Refused(422, f"{name}: this run was trained with the extra input '{name}'; give one value "
                                   "per text")
            frame[name] = given[name]
        t = time.time()
        try:
            proba = batcher(frame)
        except Exception as exc:  # noqa: BLE001 - find the text it cannot score, and say so
            raise _unscorable(frame, exc) from None
        low = (proba.max(axis=1) < min_confidence if min_confidence is not None
               else np.zeros(len(proba), dtype=bool))
        return {"predictions": [{"label": UNCERTAIN if unsure else classes[int(row.argmax())],
                                 "confidence": round(float(row.max()), 6), "uncertain": bool(unsure),
                                 "probabilities": {c: round(float(p), 6) for c, p in zip(classes, row)}}
                                for row, unsure in zip(proba, low)],
                "withheld": int(low.sum()), "run": run.name, "seconds": round(time.time() - t, 4)}

    def _unscorable(frame: pd.DataFrame, exc: Exception) -> Refused:
        for i in range(len(frame)):
            try:
                batcher(frame.iloc[[i]].reset_index(drop=True))
            except Exception as one:  # noqa: BLE001
                log.warning("texts[%d] cannot be scored: %s: %s", i, type(one).__name__, one)
                return Refused(422, f"texts[{i}]: the model cannot score this text ({type(one).__name__}: "
                                    f"{str(one).splitlines()[0][:200] if str(one) else 'no detail'})")
        log.error("a batch of %d texts failed although each alone is scored: %s", len(frame), exc)
        return Refused(503, f"the model failed on this batch ({type(exc).__name__}); try again")

    return app


def jsonable(errors: list[dict]) -> list[dict]:
    """Validation errors with only JSON-safe values."""
    return [{k: (v if isinstance(v, (str, int, float, list, type(None))) else str(v)) for k, v in e.items()
             if k in ("loc", "msg", "type")} for e in errors]


def app_from_env():
    """The app for uvicorn's worker processes (``--workers N``): the settings come from ``$TEXTLADDER_SERVE``."""
    return create_app(**json.loads(os.environ[ENV]))


def serve(run_path: str | Path, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          max_batch: int = MAX_BATCH, max_chars: int = MAX_CHARS, truncate: bool = False,
          max_body: int = MAX_BODY, api_key: str | None = None, cors_origin: str | None = None,
          docs: bool = True, header_timeout: float = HEADER_TIMEOUT, body_timeout: float = BODY_TIMEOUT,
          runtime: str = "auto", min_confidence: float | None = None, calibrated: bool = True) -> None:
    """Run uvicorn until interrupted; ``workers`` > 1 starts that many processes, each with the model.
    The API key travels to the workers in the environment, never on a command line."""
    import uvicorn

    Run.open(run_path)  # a clear error now, not in a worker
    if api_key:
        os.environ[API_KEY_ENV] = api_key
    os.environ[ENV] = json.dumps({"run_path": str(Path(run_path).resolve()), "max_batch": max_batch,
                                  "max_chars": max_chars, "truncate": truncate, "max_body": max_body,
                                  "cors_origin": cors_origin, "docs": docs, "body_timeout": body_timeout,
                                  "runtime": runtime, "min_confidence": min_confidence, "calibrated": calibrated})
    TimedH11Protocol.header_timeout = header_timeout
    uvicorn.run("textladder.serve:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="info", http=TimedH11Protocol, timeout_keep_alive=5,
                h11_max_incomplete_event_size=64 * 1024)
