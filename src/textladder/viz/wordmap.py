"""Interactive 2-D maps of word vectors (PCA or t-SNE), as one self-contained Bokeh HTML file.

The page carries Bokeh's JavaScript inline, so it opens offline. Hovering a point
shows its word and frequency rank; the most frequent words are also labelled.

Example:
    >>> import tempfile, pathlib, numpy as np
    >>> words = [f"w{i}" for i in range(30)]
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "map.html"
    >>> word_map(words, np.random.default_rng(0).normal(size=(30, 5)), out, method="pca").name
    'map.html'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from textladder.errors import TextladderError, option
from textladder.files import atomic_file
from textladder.text.tokenize import tokenize

METHODS = ("pca", "tsne")


def project(matrix: np.ndarray, method: str = "pca", seed: int = 42) -> np.ndarray:
    """2-D coordinates of each row: PCA, or t-SNE (scikit-learn; PCA initialisation, fixed seed)."""
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(matrix)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30, max(2, (len(matrix) - 1) // 3)))
        return TSNE(n_components=2, init="pca", random_state=seed, perplexity=perplexity).fit_transform(matrix)
    raise TextladderError(f"{option('method')} must be one of {', '.join(METHODS)}, not '{method}'")


def word_classes(words: Sequence[str], texts: Sequence[str], labels: Sequence[str], min_count: int = 5) -> list[str]:
    """For each word, the class whose texts contain it most often relative to the class's size
    ("-" for words in fewer than ``min_count`` texts): the colour of the word on a map.

    Example:
        >>> word_classes(["gym", "wife"], ["went to the gym", "my wife", "the gym"], ["exercise", "affection",
        ...              "exercise"], min_count=1)
        ['exercise', 'affection']
    """
    classes = sorted(set(labels))
    index = {w: i for i, w in enumerate(words)}
    counts = np.zeros((len(words), len(classes)))
    col = {c: j for j, c in enumerate(classes)}
    for text, label in zip(texts, labels):
        for w in set(tokenize(str(text))):
            i = index.get(w)
            if i is not None:
                counts[i, col[label]] += 1
    sizes = np.bincount([col[c] for c in labels], minlength=len(classes)).astype(float)
    best = (counts / np.maximum(sizes, 1)).argmax(axis=1)
    return [classes[b] if counts[i].sum() >= min_count else "-" for i, b in enumerate(best)]


def word_map_figure(words: Sequence[str], matrix: np.ndarray, method: str = "pca", top: int = 2000,
                    labels: int = 60, title: str | None = None, width: int = 900, height: int = 700,
                    groups: Sequence[str] | None = None):
    """A Bokeh figure mapping the first ``top`` words (the caller orders them most frequent first) to 2-D;
    hovering a point shows its word and frequency rank, and the ``labels`` most frequent are written.
    ``groups`` (one per word, e.g. from :func:`word_classes`) colours the points, with a legend."""
    from bokeh.models import ColumnDataSource, HoverTool, LabelSet
    from bokeh.palettes import Category10_10
    from bokeh.plotting import figure
    from bokeh.transform import factor_cmap

    if method not in METHODS:
        raise TextladderError(f"{option('method')} must be one of {', '.join(METHODS)}, not '{method}'")
    n = min(top, len(words))
    if n < 3:
        raise TextladderError(f"a word map needs at least 3 words, the run has {len(words)}")
    xy = project(np.asarray(matrix[:n], dtype=np.float64), method)
    data = {"x": xy[:, 0], "y": xy[:, 1], "word": list(words[:n]), "rank": np.arange(1, n + 1)}
    if groups is not None:
        data["group"] = [str(g) for g in groups[:n]]
    source = ColumnDataSource(data)
    title = title or f"{method.upper()} map of the {n:,} most common words"
    fig = figure(title=title, width=width, height=height, tools="pan,wheel_zoom,box_zoom,reset,save",
                 active_scroll="wheel_zoom")
    tips = [("word", "@word"), ("rank", "@rank")]
    if groups is None:
        fig.scatter("x", "y", source=source, size=6, alpha=0.6, color="#4C72B0")
    else:
        factors = sorted(set(data["group"]) - {"-"}) + (["-"] if "-" in data["group"] else [])
        palette = list(Category10_10[:len(factors)]) if len(factors) <= 10 else None
        if palette and factors[-1] == "-":
            palette[-1] = "#bbbbbb"
        color = factor_cmap("group", palette, factors) if palette else "#4C72B0"
        fig.scatter("x", "y", source=source, size=6, alpha=0.7, color=color, legend_field="group")
        fig.legend.label_text_font_size = "8pt"
        fig.legend.background_fill_alpha = 0.6
        tips.append(("most typical of", "@group"))
    fig.add_tools(HoverTool(tooltips=tips))
    shown = ColumnDataSource({k: v[:labels] for k, v in source.data.items()})
    fig.add_layout(LabelSet(x="x", y="y", text="word", source=shown, text_font_size="8pt", x_offset=3, y_offset=3))
    return fig


def word_map(words: Sequence[str], matrix: np.ndarray, out: str | Path, method: str = "pca", top: int = 2000,
             labels: int = 60, title: str | None = None) -> Path:
    """Write an HTML map of the first ``top`` words (the caller orders them most frequent first)."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    fig = word_map_figure(words, matrix, method=method, top=top, labels=labels, title=title)
    out = Path(out)
    with atomic_file(out) as tmp:
        tmp.write_text(file_html(fig, INLINE, fig.title.text), encoding="utf-8")
    return out
