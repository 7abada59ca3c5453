"""The data formats textladder recognises from their header.

Example:
    >>> detect(["hmid", "reflection_period", "cleaned_hm", "num_sentence", "predicted_category"]).name
    'hackerearth'
    >>> detect(["id", "period", "response", "n", "sentiment"]).text
    'response'
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    """A known file layout: the columns that identify it and the role of each."""

    name: str
    description: str
    signature: tuple[str, ...]  # columns that must all be present
    text: str
    label: str | None
    id: str | None = None
    period: str | None = None


HAPPYDB = Format(
    "happydb",
    "HappyDB cleaned_hm.csv",
    ("hmid", "wid", "reflection_period", "original_hm", "cleaned_hm", "modified", "num_sentence",
     "ground_truth_category", "predicted_category"),
    text="cleaned_hm", label="predicted_category", id="hmid", period="reflection_period",
)
HACKEREARTH = Format(
    "hackerearth",
    "HackerEarth 'Predict the Happiness' split (hm_train.csv / hm_test.csv)",
    ("hmid", "reflection_period", "cleaned_hm", "num_sentence"),
    text="cleaned_hm", label="predicted_category", id="hmid", period="reflection_period",
)
BLOG = Format(
    "blog",
    "the roadmap blog's renamed HackerEarth file (id, period, response, n, sentiment)",
    ("id", "period", "response", "n"),
    text="response", label="sentiment", id="id", period="period",
)
KNOWN = (HAPPYDB, HACKEREARTH, BLOG)  # most specific first

_TEXT_NAMES = ("text", "sentence", "content", "document", "review", "message")
_LABEL_NAMES = ("label", "labels", "category", "class", "target", "sentiment")
_ID_NAMES = ("id", "uid", "guid")


def detect(columns: list[str]) -> Format | None:
    """The known format whose signature columns are all in ``columns``, else a
    ``generic`` format when common column names (text/label/id) are present, else None."""
    present = set(columns)
    for fmt in KNOWN:
        if set(fmt.signature) <= present:
            return fmt
    lower = {c.lower(): c for c in columns}
    text = next((lower[n] for n in _TEXT_NAMES if n in lower), None)
    if text is None:
        return None
    label = next((lower[n] for n in _LABEL_NAMES if n in lower), None)
    ident = next((lower[n] for n in _ID_NAMES if n in lower), None)
    return Format("generic", "a CSV/Parquet file with common column names", (text,), text=text, label=label, id=ident)
