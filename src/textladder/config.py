"""One pydantic object describes a run completely; it is saved as ``config.json``.

Example:
    >>> cfg = RunConfig(model="tfidf-linear", data=DataConfig(path="d.csv"))
    >>> RunConfig.model_validate_json(cfg.model_dump_json()) == cfg
    True
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from textladder._version import __version__
from textladder.choices import TRAINER_KEYS, Balance, Feature
from textladder.data.dataset import DEFAULT_MAX_DROP
from textladder.data.split import SplitConfig
from textladder.errors import TextladderError, option
from textladder.models import get, make_params


class DataConfig(BaseModel):
    """Where the data is and which column plays which role."""

    model_config = ConfigDict(extra="forbid")

    path: str
    format: str | None = None
    text_col: str | None = None
    label_col: str | None = None
    id_col: str | None = None
    period_col: str | None = None
    max_drop: float = Field(DEFAULT_MAX_DROP, ge=0, le=1)
    min_class_rows: int = Field(0, ge=0, description="drop classes with fewer rows (0: keep every class)")
    split_col: str | None = Field(None, description="a column giving each row's part: train, val or test")
    test_path: str | None = Field(None, description="a file of test rows: the split is given (path: train, "
                                                    "and validation unless val_path)")
    val_path: str | None = Field(None, description="with test_path, a file of validation rows")
    corrections: str | None = Field(None, description="a CSV/Parquet file of id and label: labels people corrected, "
                                                      "applied before the split")
    sha256: str | None = None  # of the file, or of every file's in order when the split comes in files
    rows: int | None = None

    @model_validator(mode="after")
    def _one_given_split(self):
        if self.val_path is not None and self.test_path is None:
            raise TextladderError(f"{option('val_data')} needs {option('test_data')}: validation rows are otherwise "
                                  "held out of the data")
        if self.split_col is not None and self.test_path is not None:
            raise TextladderError(f"give the split by a column ({option('split_col')}) or by files "
                                  f"({option('test_data')}), not both")
        return self

    @property
    def given_split(self) -> bool:
        """Whether the data says which rows are test (a split column or a test file)."""
        return self.split_col is not None or self.test_path is not None


class TrainerOptions(BaseModel):
    """How a neural run trains (Lightning's settings), not what it learns: a run trained on two devices
    is the same run as one trained on one, for the ladder's reuse rule. ``None``: the rung's default
    (cpu, one device; the transformer: a GPU when there is one)."""

    model_config = ConfigDict(extra="forbid")

    accelerator: str | None = None
    devices: int | str | None = None
    strategy: str | None = None
    precision: str | None = None


class RunConfig(BaseModel):
    """Everything needed to repeat a run: data, split, model name and its parameters."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str
    params: dict[str, Any] = Field(default_factory=dict)
    trainer: TrainerOptions = Field(default_factory=TrainerOptions)
    balance: Balance = "none"
    features: list[Feature] = Field(default_factory=list)
    data: DataConfig
    split: SplitConfig = Field(default_factory=SplitConfig)
    seed: int = 42
    fit_on: Literal["train", "train+val"] = Field(
        "train", description="rows the saved model is trained on: the train split, or train and validation "
                             "together (a refit, after validation chose the configuration)")
    cv: int | None = Field(None, ge=2, le=20, description="K: stratified K-fold cross-validation over train+val "
                                                          "(out-of-fold probabilities for every row; the saved model "
                                                          "is then one refit on all of train+val)")
    textladder_version: str = __version__

    @model_validator(mode="after")
    def _cv_refits(self):
        if self.cv is not None and self.fit_on != "train+val":
            self.fit_on = "train+val"
        return self

    @model_validator(mode="before")
    @classmethod
    def _trainer_out_of_params(cls, data):
        """Runs written before trainer settings were run options kept them among the parameters."""
        if isinstance(data, dict) and isinstance(data.get("params"), dict):
            moved = {k: data["params"][k] for k in TRAINER_KEYS if k in data["params"]}
            if moved:
                data = {**data, "params": {k: v for k, v in data["params"].items() if k not in TRAINER_KEYS},
                        "trainer": {**moved, **(data.get("trainer") or {})}}
        return data


def resolve(config: RunConfig) -> tuple[type, RunConfig]:
    """The one step from a run config to (the rung's class, the config with its effective parameters):
    the seed passed on, ``class_weight=balanced`` and ``balance="class-weight"`` made one setting, every
    parameter validated and defaulted, and the extra inputs and SMOTE checked by constructing the rung.
    ``train``, the ladder's reuse rule and the CLI's early checks all call it.

    Example:
        >>> cfg = RunConfig(model="tfidf-linear", params={"class_weight": "balanced"}, data=DataConfig(path="d.csv"))
        >>> cls, eff = resolve(cfg)
        >>> cls.name, eff.balance, eff.params["class_weight"], eff.params["seed"]
        ('tfidf-linear', 'class-weight', 'balanced', 42)
    """
    cls = get(config.model)
    fields = cls.Params.model_fields
    params = dict(config.params)
    if "seed" in fields:
        params.setdefault("seed", config.seed)
    balance = config.balance
    if params.get("class_weight") == "balanced" and balance == "none":
        balance = "class-weight"
    if balance == "class-weight":
        if "class_weight" not in fields:
            raise TextladderError(f"balance class-weight: model '{config.model}' has no class weights; "
                                  "oversample (or undersample) instead")
        params["class_weight"] = "balanced"
    effective = make_params(config.model, params)
    cls(effective, features=config.features, smote=balance == "smote")
    return cls, config.model_copy(update={"params": effective.model_dump(mode="json"), "balance": balance})
