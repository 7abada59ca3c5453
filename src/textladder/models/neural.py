"""What every neural rung shares: common options, the dense head, fit through the one
Lightning loop, and saving as safetensors + JSON.

A rung subclasses :class:`NeuralClassifier` and writes four small methods:
``_prepare`` (learn its representation from the train split), ``_dataset``
(rows -> a dataset whose loader yields dict batches), ``_build_net`` (the
``nn.Module``), and ``_save_extra`` / ``_load_extra`` for its representation.
Everything else (seeding, class weights, checkpoints, early stopping,
history, prediction in length order, the files) lives here, once.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field
from torch import nn

from textladder.balance import balanced_weights, smote
from textladder.errors import RunError
from textladder.files import atomic_file, write_json
from textladder.features import ExtraInputs
from textladder.models.base import Params, TextClassifier

log = logging.getLogger("textladder")

WEIGHTS, META = "weights.safetensors", "model.json"
ONNX_DIR, ONNX_FP32, ONNX_INT8 = "onnx", "model.onnx", "model.int8.onnx"  # model/onnx/: written by export_onnx


class _OnnxWrap(nn.Module):
    """The net with positional tensor inputs (ONNX has no dict inputs) and probabilities out."""

    def __init__(self, net: nn.Module, keys: list[str]):
        super().__init__()
        self.net, self.keys = net, keys

    def forward(self, *tensors):
        return torch.softmax(self.net(dict(zip(self.keys, tensors))), dim=1)


class LoopParams(Params):
    """Options of training in the Lightning loop, shared by every neural rung (the transformer too)."""

    lr: float = Field(2e-3, gt=0, description="Adam learning rate")
    weight_decay: float = Field(0.0, ge=0, description="Adam L2 penalty")
    batch_size: int = Field(64, ge=1)
    epochs: int = Field(10, ge=1, description="most epochs; the best by validation macro-F1 is kept")
    patience: int = Field(3, ge=1, description="stop after this many epochs without a better validation macro-F1")
    class_weight: Literal["balanced"] | None = Field(None, description="'balanced': weight the loss by inverse class frequency")
    seed: int = 42


class NeuralParams(LoopParams):
    """Options common to the rungs that end in the dense head."""

    hidden: int = Field(64, ge=1, description="units per recurrent layer / dense layer")
    layers: int = Field(1, ge=1, le=8, description="stacked recurrent layers")
    head: list[int] = Field([64], description="sizes of the dense layers before the output ([] for none)")
    dropout: float = Field(0.3, ge=0, lt=1, description="dropout on embeddings, between layers and in the head")
    activation: Literal["relu", "leaky_relu"] = Field("relu", description="activation of the dense layers")
    leaky_alpha: float = Field(0.1, ge=0, lt=1, description="negative slope of leaky_relu")
    lr_decay: float = Field(0.9, gt=0, le=1, description="learning rate multiplied by this after each epoch")


def activation(name: str, alpha: float) -> nn.Module:
    return nn.LeakyReLU(alpha) if name == "leaky_relu" else nn.ReLU()


def dense_head(in_dim: int, n_classes: int, p: NeuralParams) -> nn.Sequential:
    """``[dropout, Linear, activation] * len(p.head)``, dropout, then the output layer (logits)."""
    layers: list[nn.Module] = []
    for size in p.head:
        layers += [nn.Dropout(p.dropout), nn.Linear(in_dim, size), activation(p.activation, p.leaky_alpha)]
        in_dim = size
    layers += [nn.Dropout(p.dropout), nn.Linear(in_dim, n_classes)]
    return nn.Sequential(*layers)


class VectorNet(nn.Module):
    """The dense head alone, over fixed-length inputs ``batch["x"]`` (sentence-vector rungs)."""

    def __init__(self, in_dim: int, n_classes: int, p: NeuralParams):
        super().__init__()
        self.head = dense_head(in_dim, n_classes, p)

    def forward(self, batch):
        return self.head(batch["x"])


class VectorBatches:
    """Row indices of each batch: shuffled from ``(seed, epoch)`` when training, in order otherwise."""

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int):
        self.n, self.batch_size, self.shuffle, self.seed, self.epoch = n, batch_size, shuffle, seed, 0
        self.epoch_of = None  # the training loop sets a callable giving the epoch being trained

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self):  # a generator: the epoch is read when the first batch is drawn
        epoch = self.epoch_of() if self.epoch_of is not None else self.epoch
        order = np.random.default_rng([self.seed, epoch]).permutation(self.n) if self.shuffle else np.arange(self.n)
        for i in range(0, self.n, self.batch_size):
            yield order[i:i + self.batch_size]


class VectorLoader:
    """Dict batches ``{"x", "y"}`` over fixed-length vectors, like a DataLoader with a ``batch_sampler``
    (the rungs whose inputs are sentence vectors use it)."""

    def __init__(self, x: np.ndarray, y: np.ndarray | None, batch_size: int, shuffle: bool, seed: int):
        self.x, self.y = x, y
        self.batch_sampler = VectorBatches(len(x), batch_size, shuffle, seed)

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self):
        for idx in self.batch_sampler:
            batch = {"x": torch.from_numpy(self.x[idx])}
            if self.y is not None:
                batch["y"] = torch.from_numpy(self.y[idx])
            yield batch


def vector_loader(ds, batch_size: int, shuffle: bool, seed: int) -> VectorLoader:
    """Training batches of ``batch_size`` or, for prediction, 4096 rows of ``ds = (x, y)``."""
    x, y = ds
    return VectorLoader(x, y, batch_size if shuffle else 4096, shuffle, seed)


class NeuralClassifier(TextClassifier):
    """Base of the neural rungs. Learned state: ``net_``, ``meta_`` (JSON), ``history_``, ``report_``."""

    Params: ClassVar[type[Params]] = NeuralParams
    needs_validation = True
    checkpointed = True
    exports_onnx = True
    default_accelerator: ClassVar[str] = "cpu"  # when the run's trainer settings name none
    # Most intra-op threads worth using (None: every CPU this process may use); see textladder.threads
    max_threads: ClassVar[int | None] = None

    def __init__(self, params: Params | None = None, **overrides):
        super().__init__(params, **overrides)
        self.meta_: dict[str, Any] = {}

    # -- what a rung writes ---------------------------------------------------------------------
    def _prepare(self, X: pd.DataFrame, y: np.ndarray) -> None:
        """Learn the representation from the train rows; put its sizes in ``self.meta_``."""
        raise NotImplementedError

    def _dataset(self, X: pd.DataFrame, y: np.ndarray | None):
        raise NotImplementedError

    def _loader(self, ds, shuffle: bool):
        raise NotImplementedError

    def _build_net(self, n_classes: int) -> nn.Module:
        raise NotImplementedError

    def _init_net(self, net: nn.Module) -> None:
        """Put learned-before-training values (pretrained vectors) into a new net."""

    def _loop_config(self) -> dict[str, Any]:
        """The rung's own LoopConfig settings beyond :class:`LoopParams` (schedule, optimiser...)."""
        return {"lr_decay": self.params.lr_decay}

    def _save_extra(self, folder: Path) -> None:
        pass

    def _load_extra(self, folder: Path) -> None:
        pass

    @property
    def extra_dim(self) -> int:
        """Width of the extra inputs (their one-hots) joined to the features before the head."""
        extra = ExtraInputs.from_meta(self.meta_)
        return 0 if extra is None else extra.width

    def _extra(self, X: pd.DataFrame) -> np.ndarray | None:
        extra = ExtraInputs.from_meta(self.meta_)
        return None if extra is None else extra.transform(X, f"this '{self.name}' model")

    # -- shared ---------------------------------------------------------------------------------
    @property
    def progress(self) -> bool:
        """Show progress bars (while fitting, as the training context says)."""
        context = getattr(self, "context", None)
        return bool(context and context.progress)

    def _fit(self, X, y, X_val=None, y_val=None):
        from textladder.loop import LitClassifier, LoopConfig, fit
        from textladder.threads import apply

        apply(cap=self.max_threads)

        p = self.params
        context = self.context
        torch.manual_seed(p.seed)
        np.random.seed(p.seed)
        n_classes = int(max(y.max(), -1 if y_val is None else y_val.max())) + 1
        self.meta_ = {"n_classes": n_classes}
        extra = ExtraInputs.fit(X, self.features, f"model '{self.name}'")
        if extra is not None:
            self.meta_["features"] = extra.categories
        self._prepare(X, y)
        train = self._dataset(X, y)
        if self.smote:
            x, y = smote(*train, seed=p.seed)
            train = (x.astype(np.float32), y)
            self.report_["smote_counts"] = np.bincount(y, minlength=n_classes).tolist()
        train_loader = self._loader(train, shuffle=True)
        if X_val is None:
            raise ValueError(f"{self.name} needs validation rows to pick its best epoch")
        val_loader = self._loader(self._dataset(X_val, y_val), shuffle=False)
        torch.manual_seed(p.seed)
        net = self._build_net(n_classes)
        self._init_net(net)
        weights = balanced_weights(y, n_classes) if p.class_weight == "balanced" else None
        if weights is not None:
            self.report_["class_weights"] = [round(float(w), 6) for w in weights]
        config = LoopConfig(lr=p.lr, weight_decay=p.weight_decay, epochs=p.epochs, patience=p.patience, seed=p.seed,
                            progress=context.progress, accelerator=context.accelerator or self.default_accelerator,
                            devices=context.devices or 1, strategy=context.strategy or "auto",
                            precision=context.precision, **self._loop_config())
        module = LitClassifier(net, n_classes, config, weights)
        with tempfile.TemporaryDirectory(prefix="textladder-") as tmp:
            self.history_ = fit(module, train_loader, val_loader, context.work_dir or Path(tmp), resume=context.resume,
                                on_epoch=context.on_epoch, deadline=context.deadline)
        self.global_rank_ = module.global_rank_  # 0 but in the extra processes of a multi-process (DDP) run
        self.net_ = module.net.cpu().eval()
        if self.history_:
            best = max(self.history_, key=lambda r: r["val_macro_f1"])
            self.report_.update(best_epoch=best["epoch"], epochs_run=len(self.history_))
        if module.world_size_ > 1:
            self.report_["processes"] = module.world_size_

    @torch.inference_mode()
    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Batches of similar length (sorted, padded to their own longest), through onnxruntime when
        the run has an exported model (``textladder export``), else through PyTorch."""
        from textladder.threads import apply

        apply(cap=self.max_threads)
        ds = self._dataset(X, None)
        loader = self._loader(ds, shuffle=False)
        out = np.zeros((len(X), self.meta_["n_classes"]), dtype=np.float32)
        self.net_.eval()
        session = getattr(self, "onnx_", None)
        for idx, batch in zip(loader.batch_sampler, loader):
            if session is not None:
                out[idx] = session.run(None, {k: batch[k].numpy() for k in self.meta_["onnx_inputs"]})[0]
            else:
                out[idx] = torch.softmax(self.net_(batch), dim=1).numpy()
        return out

    def export_onnx(self, folder: Path, int8: bool = False) -> list[Path]:
        """Write ``folder/onnx/model.onnx`` (fp32; batch and sequence length dynamic), and with ``int8``
        also ``model.int8.onnx`` (onnxruntime's dynamic int8 quantisation of the weights)."""
        sample = pd.DataFrame({"text": ["an example text to trace", "a second and longer example text to trace it"],
                               **{c: cats[:1] * 2 for c, cats in (ExtraInputs.from_meta(self.meta_) or
                                                                   ExtraInputs({})).categories.items()}})
        loader = self._loader(self._dataset(sample, None), shuffle=False)
        batch = next(iter(loader))
        keys = [k for k, v in batch.items() if isinstance(v, torch.Tensor) and k != "y"]
        dynamic = {k: ({0: "batch", 1: "length"} if batch[k].dim() == 2 and k != "extra" else {0: "batch"})
                   for k in keys}
        target = Path(folder) / ONNX_DIR
        created = not target.exists()
        target.mkdir(exist_ok=True)
        try:
            with atomic_file(target / ONNX_FP32) as part:
                torch.onnx.export(_OnnxWrap(self.net_.eval(), keys), tuple(batch[k] for k in keys), str(part),
                                  input_names=keys, output_names=["proba"], opset_version=17, dynamo=False,
                                  dynamic_axes={**dynamic, "proba": {0: "batch"}})
        except Exception as exc:  # noqa: BLE001 - the exporter's errors are many and deep
            if created and not any(target.iterdir()):
                target.rmdir()
            raise RunError(f"model '{self.name}' cannot be exported to ONNX ({str(exc).splitlines()[0]})") from None
        written = [target / ONNX_FP32]
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            with atomic_file(target / ONNX_INT8) as part:
                quantize_dynamic(str(target / ONNX_FP32), str(part), weight_type=QuantType.QInt8)
            written.append(target / ONNX_INT8)
        meta = json.loads((Path(folder) / META).read_text(encoding="utf-8"))
        meta["onnx_inputs"] = keys
        write_json(Path(folder) / META, meta)
        self.meta_["onnx_inputs"] = keys
        return written

    def use_onnx(self, path: Path) -> None:
        """Predict through onnxruntime with the model file at ``path``."""
        import onnxruntime as ort

        self.onnx_ = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.onnx_path_ = Path(path)

    def _save(self, folder: Path) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        state = {k: v.detach().contiguous() for k, v in self.net_.state_dict().items()}
        save_file(state, str(folder / WEIGHTS))
        (folder / META).write_text(json.dumps({"model": self.name, **self.meta_}, indent=2) + "\n", encoding="utf-8")
        self._save_extra(folder)

    def _load(self, folder: Path) -> None:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        folder = Path(folder)
        try:
            self.meta_ = json.loads((folder / META).read_text(encoding="utf-8"))
            self.meta_.pop("model", None)
        except (OSError, ValueError) as exc:
            raise RunError(f"{folder / META}: cannot read the model description ({exc})") from None
        self._load_extra(folder)
        net = self._build_net(self.meta_["n_classes"])
        try:
            net.load_state_dict(load_file(str(folder / WEIGHTS)))
        except (OSError, SafetensorError, RuntimeError) as exc:
            raise RunError(f"{folder / WEIGHTS}: cannot load the weights ({str(exc).splitlines()[0]})") from None
        self.net_ = net.eval()
        # auto: the int8 ONNX model when exported, else the fp32 one, else torch
        for name in {"auto": (ONNX_INT8, ONNX_FP32), "onnx": (ONNX_FP32,), "onnx-int8": (ONNX_INT8,)}.get(self.runtime, ()):
            if (folder / ONNX_DIR / name).is_file() and "onnx_inputs" in self.meta_:
                self.use_onnx(folder / ONNX_DIR / name)
                break


class VectorClassifier(NeuralClassifier):
    """A rung whose input is one fixed-length vector per text (``sentence_vectors``) into the dense
    head; SMOTE can resample those vectors (``--balance smote``)."""

    supports_smote = True

    def sentence_vectors(self, texts) -> np.ndarray:
        """One float32 vector of ``meta_["in_dim"]`` per text."""
        raise NotImplementedError

    def _dataset(self, X, y):
        x, extra = self.sentence_vectors(X["text"]), self._extra(X)
        return (x if extra is None else np.hstack([x, extra])), y

    def _loader(self, ds, shuffle):
        return vector_loader(ds, self.params.batch_size, shuffle, self.params.seed)

    def _build_net(self, n_classes):
        return VectorNet(self.meta_["in_dim"] + self.extra_dim, n_classes, self.params)
