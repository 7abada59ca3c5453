"""One self-contained HTML report of a runs folder, to open in any browser, offline.

It holds the leaderboard (accuracy, macro-F1, ECE, per-class F1, training time, options) and a chart
of it, the data (class-distribution pie, token lengths), every run's confusion matrix, learning
curve, reliability diagram and accuracy against coverage, calibration before and after for every
run, the best run's coverage at target accuracies, the words that weigh most for each class and a
few of its mistakes explained, the label issues found by ``textladder label-issues``, PCA and t-SNE
maps of the best word vectors (Bokeh: hover shows the word), and the most confident mistakes of the
best run for each class. Images are embedded and Bokeh's JavaScript is
inline: the file needs no network and no other file.

Example:
    >>> write_report("runs")  # doctest: +SKIP
    PosixPath('runs/report.html')
"""

from __future__ import annotations

import base64
import html
import logging
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from textladder.calibration import coverage_curve, selective, threshold_for
from textladder.data.reader import read_id_labels
from textladder.errors import RunError, TextladderError
from textladder.explain import tokens_html
from textladder.exploration import summarize
from textladder.files import atomic_file, lock
from textladder.label_issues import TRUSTED_COLUMN, duplicates_path
from textladder.layout import ISSUES_FILE, REPORT, TEST_PREDICTIONS
from textladder.models import get
from textladder.ranking import leaderboard
from textladder.runs import Run, list_runs, load_data
from textladder.text.tokenize import tokenize
from textladder.viz.plots import class_distribution_png, coverage_png, token_length_png

log = logging.getLogger("textladder")

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1250px; color: #222; padding: 0 1em; }
h1 { margin-bottom: 0.1em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.muted { color: #666; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 12px; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: right; vertical-align: top; white-space: nowrap; }
td.wrap { white-space: normal; min-width: 12em; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
tr.best td { background: #eef7ee; font-weight: 600; }
tr.ensemble td:nth-child(3) { color: #7a3e9d; }
details { margin: 0.4em 0; border: 1px solid #e4e4e4; border-radius: 4px; padding: 0.3em 0.8em; }
summary { cursor: pointer; font-weight: 600; }
img { max-width: 100%; } .row { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.row img { max-width: min(560px, 100%); } .row > div { max-width: 100%; } td.text { text-align: left; max-width: 700px; white-space: normal; overflow-wrap: anywhere; }
.explained { margin: 0.6em 0; overflow-wrap: anywhere; } .ex-title { font-weight: 600; }
.ex-title small { font-weight: 400; color: #666; } .tok { padding: 1px 3px; border-radius: 3px; line-height: 1.9; }
"""


def _b64_img(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _f(v, digits: int = 4) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _leaderboard_table(rows: list[dict], runs: dict[str, Run], classes: list[str]) -> str:
    head = ["#", "run", "model", "trained on", "pick macro-F1", "accuracy", "macro-F1", "ECE", *classes, "train s",
            "options"]
    group = (f'<tr><th colspan="5" class="l">ranked by validation as the pick reads it: out of fold where there is '
             f'one; * the best of a search\'s trials on those rows (it reads high), ranked after the others</th>'
             f'<th colspan="3">test (never used to choose)</th>'
             f'<th colspan="{len(classes)}">test F1 of each class</th><th colspan="2"></th></tr>')
    out = ["<table>" + group + "<tr>" + "".join(
        f'<th class="{"l" if h in ("run", "model", "options") else ""}">{html.escape(h)}</th>' for h in head)
        + "</tr>"]
    for i, row in enumerate(rows, 1):
        per_class = runs[row["run"]].metrics.get("test", {}).get("per_class", {})
        cls = ["best"] if i == 1 else []
        cls += ["ensemble"] if row["model"] == "ensemble" else []
        cells = [str(i), f'<a href="#run-{html.escape(row["run"])}">{html.escape(row["run"])}</a>',
                 html.escape(row["model"]), html.escape(row["trained_on"]),
                 f'<span title="{html.escape(row["pick_source"])}">{_f(row["pick_macro_f1"])}'
                 f'{"*" if row["maximised"] else ""}</span>',
                 _f(row["accuracy"]), _f(row["macro_f1"]), _f(runs[row["run"]].metrics.get("test", {}).get("ece"), 3),
                 *[_f(per_class.get(c, {}).get("f1"), 3) for c in classes],
                 _f(row["train_seconds"], 1) + (f' <span class="muted">(+{row["members_train_seconds"]:.0f} members)</span>'
                                                if row.get("members_train_seconds") else ""),
                 html.escape(row["options"])]
        aligns = ["", "l", "l", "l", "", "", "", "", *[""] * len(classes), "", "l wrap"]
        out.append(f'<tr class="{" ".join(cls)}">' + "".join(
            f'<td class="{a}">{c}</td>' for a, c in zip(aligns, cells)) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _score_chart(rows: list[dict], blog: bool = False):
    """Horizontal bars of test accuracy and macro-F1 per run, in leaderboard order (best on validation at the
    top); hover shows the options."""
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure
    from bokeh.transform import dodge

    rows = [r for r in rows if r["accuracy"] is not None][::-1]
    # each bar named by its rung and options (the run's last four characters keep the names apart)
    names = [f"{r['model']} {_short_options(r['options'])} ·{r['run'][-4:]}".replace("  ", " ") for r in rows]
    src = ColumnDataSource({"run": names, "accuracy": [r["accuracy"] for r in rows],
                            "macro_f1": [r["macro_f1"] for r in rows], "options": [r["options"] for r in rows],
                            "model": [r["model"] for r in rows], "run_id": [r["run"] for r in rows]})
    low = min(min(r["macro_f1"] for r in rows), min(r["accuracy"] for r in rows))
    fig = figure(y_range=names, height=max(220, 34 * len(rows) + 80), sizing_mode="stretch_width",
                 x_range=(max(0.0, low - 0.05), 1.0), title="test accuracy and macro-F1 per run",
                 tools="hover,reset,save", toolbar_location="right")
    fig.hbar(y=dodge("run", 0.17, range=fig.y_range), right="accuracy", height=0.3, source=src,
             color="#4C72B0", legend_label="accuracy")
    fig.hbar(y=dodge("run", -0.17, range=fig.y_range), right="macro_f1", height=0.3, source=src,
             color="#DD8452", legend_label="macro-F1")
    fig.select_one(HoverTool).tooltips = [("run", "@run_id"), ("model", "@model"), ("accuracy", "@accuracy{0.0000}"),
                                          ("macro-F1", "@macro_f1{0.0000}"), ("options", "@options")]
    if blog:  # HappyDB's reference figures: the blog's best single model and its ensemble
        from bokeh.models import Span

        for value, color in ((0.924, "#888888"), (0.941, "#444444")):
            fig.add_layout(Span(location=value, dimension="height", line_color=color, line_dash="dashed",
                                line_width=1))
        fig.title.text += " (dashed: the blog's 0.924 single model and 0.941 ensemble)"
    fig.legend.location = "bottom_right"
    return fig


def _short_options(options: str, limit: int = 40) -> str:
    return options if len(options) <= limit else options[: limit - 1] + "…"


HAPPYDB_SHA256 = "bb6fafc79fa5efbf41f8ce82ab23a229ce00378f0f24d87afa7dbb3629110bd3"  # hm_train.csv as published


def _load_data(run: Run):
    """The run's data file, or None (with a warning) when it is gone."""
    if not Path(run.config.data.path).is_file():
        log.warning("%s: the data file is gone; the report leaves out the class and length plots and the "
                    "word colours", run.config.data.path)
        return None
    return load_data(run.config)


def _data_section(run: Run, ds, tmp: Path) -> str:
    path = Path(run.config.data.path)
    if ds is None:
        return f'<p class="muted">The data file {html.escape(str(path))} is gone: no class or length plots.</p>'
    summary, lengths = summarize(ds, run.config.split)
    kind = "pie" if len(summary["classes"]) <= 10 else "bar"  # a pie of more slices cannot be read
    pie = class_distribution_png(summary["classes"], tmp / "pie.png", kind=kind)
    hist = token_length_png(lengths, tmp / "lengths.png", suggested=summary["tokens"]["suggested_seq_len"])
    t = summary["tokens"]
    split = summary.get("split") or {}
    return (f"<p>{html.escape(path.name)}: {summary['rows']:,} rows, {len(summary['classes'])} classes, "
            f"largest to smallest class {summary['imbalance_ratio']} to 1; tokens per text: mean {t['mean']}, "
            f"median {t['median']:.0f}, 95th percentile {t['p95']:.0f}, longest {t['max']:,}. "
            f"Split ({html.escape(str(split.get('method', '-')))}): train {split.get('train', 0):,}, "
            f"validation {split.get('val', 0):,}, test {split.get('test', 0):,}.</p>"
            f'<div class="row">{_b64_img(pie, "class distribution")}{_b64_img(hist, "token lengths")}</div>')


def _word_vector_run(rows: list[dict], runs: dict[str, Run]):
    """(run, words, vectors) of the best-ranked run whose model has word vectors, else None."""
    for row in rows:
        if not get(row["model"]).has_word_vectors:
            continue
        run = runs[row["run"]]
        try:
            words, matrix = run.load_model().word_vectors()
        except (RunError, TextladderError) as exc:
            log.warning("%s: no word vectors for the report (%s)", run.name, exc)
            continue
        if len(words) >= 3:
            return run, words, matrix
    return None


def _mistakes(run: Run, classes: list[str], per_class: int) -> str:
    path = run.path / "misclassified.csv"
    if not path.is_file():
        return '<p class="muted">No misclassified.csv in the best run.</p>'
    mis = pd.read_csv(path, dtype={"id": str}, keep_default_na=False)
    parts = []
    for c in classes:
        rows = mis[mis["true"] == c].head(per_class)
        total = int((mis["true"] == c).sum())
        body = "".join(f'<tr><td class="l">{html.escape(str(r.id))}</td><td class="l">{html.escape(r.predicted)}</td>'
                       f'<td>{float(r.confidence):.3f}</td><td class="text">{html.escape(str(r.text))}</td></tr>'
                       for r in rows.itertuples())
        parts.append(f"<details><summary>{html.escape(c)}: {total:,} test texts misclassified</summary>"
                     '<table><tr><th class="l">id</th><th class="l">predicted</th><th>confidence</th>'
                     f'<th class="l">text</th></tr>{body}</table></details>')
    return "\n".join(parts)


def _trust_section(rows: list[dict], runs: dict[str, Run], best: Run, tmp: Path,
                   targets: tuple[float, ...] = (0.95, 0.98, 0.99)) -> str:
    """Calibration of every run (temperature, ECE, Brier, log loss before and after) and, for the best run,
    its reliability diagram and accuracy against coverage, with the thresholds that reach each target
    accuracy chosen on validation and their coverage on test."""
    body = []
    for row in rows:
        m = runs[row["run"]].metrics
        test, before = m.get("test", {}), m.get("test", {}).get("uncalibrated", {})
        cal = m.get("calibration", {})
        body.append(f'<tr><td class="l">{html.escape(row["run"])}</td><td>{_f(cal.get("temperature"), 3)}</td>'
                    f'<td>{_f(before.get("ece"), 4)}</td><td>{_f(test.get("ece"), 4)}</td>'
                    f'<td>{_f(before.get("brier"), 4)}</td><td>{_f(test.get("brier"), 4)}</td>'
                    f'<td>{_f(before.get("log_loss"), 4)}</td><td>{_f(test.get("log_loss"), 4)}</td></tr>')
    table = ('<table><tr><th class="l" rowspan="2">run</th><th rowspan="2">temperature</th><th colspan="2">ECE</th>'
             '<th colspan="2">Brier</th><th colspan="2">log loss</th></tr><tr>' + "<th>before</th><th>after</th>" * 3
             + "</tr>" + "".join(body) + "</table>")
    parts = [f"<p>Each run's probabilities are divided, in log space, by one temperature fitted on its validation "
             f"(or out-of-fold) rows; no prediction changes. Test figures, before and after (ECE: expected calibration "
             f"error, 15 bins).</p>{table}"]
    val, y_val = best.predictions("val"), best.truth("val")
    test, y_test = best.predictions("test"), best.truth("test")
    if val is not None and y_val is not None and test is not None and y_test is not None:
        marks, lines = [], []
        for target in targets:
            t = threshold_for(val[1], y_val, target)
            if t is None:
                lines.append(f"<tr><td>{target}</td><td colspan='3' class='l'>not reached on validation</td></tr>")
                continue
            got = selective(test[1], y_test, t)
            marks.append((f"{target} (val)", got["coverage"], got["accuracy"] or 0.0))
            lines.append(f"<tr><td>{target}</td><td>{t:.4f}</td><td>{got['coverage']:.1%}</td>"
                         f"<td>{_f(got['accuracy'])}</td></tr>")
        png = coverage_png(coverage_curve(test[1], y_test), tmp / "coverage.png", marks=marks,
                           title=f"{best.config.model}: test accuracy against coverage")
        parts.append(f"<p>Answering only when confident: the best run, <b>{html.escape(best.name)}</b>. Each "
                     "threshold is the lowest confidence whose validation rows reach the target accuracy; its test "
                     "coverage and accuracy follow (<code>textladder evaluate RUN --target-accuracy A</code>; "
                     "<code>predict</code> and <code>serve</code> take <code>--min-confidence</code>).</p>"
                     '<div class="row"><table><tr><th>target</th><th>threshold</th><th>test coverage</th>'
                     f'<th>test accuracy</th></tr>{"".join(lines)}</table>{_b64_img(png, "coverage")}'
                     + (_b64_img(best.path / "reliability.png", "reliability") if (best.path / "reliability.png").is_file()
                        else "") + "</div>")
    return "\n".join(parts)


def _why_section(best: Run, ds, classes: list[str], mistakes: int = 3, top: int = 10, samples: int = 200) -> str:
    """The words that weigh most for each class in the best run, and a few of its mistakes explained."""
    from collections import Counter

    try:
        model = best.load_model()
    except (RunError, TextladderError) as exc:
        return f'<p class="muted">The best run cannot be loaded ({html.escape(str(exc))}).</p>'
    vocabulary = None
    if ds is not None:
        train = set(best.split_ids.get("train", []))
        counts = Counter(w for i, t in zip(ds.ids, ds.texts) if i in train for w in tokenize(str(t).lower()))
        vocabulary = [w for w, _ in counts.most_common(2000) if any(ch.isalpha() for ch in w)]
    if model.explanation != "linear" and not vocabulary:
        words_html = '<p class="muted">The data file is gone: no vocabulary to probe the model with.</p>'
    else:
        words = model.class_words(vocabulary, top=top)
        how = ("its largest word coefficients (relative to the mean over the classes)" if model.explanation == "linear"
               else "how much each of the 2,000 most common training words, read alone, raises the class's probability "
                    "(a log-ratio)")
        cells = "".join(f'<tr><td class="l">{html.escape(c)}</td><td class="l wrap">'
                        + ", ".join(f"{html.escape(w)} <span class='muted'>{v:+.2f}</span>" for w, v in words.get(c, []))
                        + "</td></tr>" for c in classes)
        words_html = (f"<p>The words that weigh most for each class in <b>{html.escape(best.name)}</b>: {how}.</p>"
                      f'<table><tr><th class="l">class</th><th class="l">words</th></tr>{cells}</table>')
    explained = []
    path = best.path / "misclassified.csv"
    if path.is_file():
        mis = pd.read_csv(path, dtype={"id": str}, keep_default_na=False).head(mistakes)
        for r in mis.itertuples():
            try:
                e = model.explain(str(r.text), samples=samples) if not best.config.features else None
            except Exception as exc:  # noqa: BLE001 - an explanation that fails must not cost the report
                log.warning("could not explain test row %s: %s", r.id, exc)
                e = None
            if e is not None:
                explained.append(tokens_html(e.tokens, e.weights, f"id {r.id}: true {r.true}, predicted {r.predicted} "
                                             f"({float(r.confidence):.2f})", e.method))
    legend = ("<p class='muted'>Blue: toward the predicted class; red: against it (hover a word for its weight). "
              "<code>textladder explain RUN \"TEXT\" --html FILE</code> does the same for any text.</p>")
    return words_html + (f"<p>The most confident mistakes, explained:</p>{legend}{''.join(explained)}" if explained else "")


def _label_issues_section(runs_dir: Path, rows: int = 15) -> str:
    """The top rows of ``RUNS/label_issues.csv`` (written by ``textladder label-issues``), when there is one."""
    path = runs_dir / ISSUES_FILE
    if not path.is_file():
        return ('<p class="muted">Run <code>textladder label-issues DATA --runs RUNS</code> to rank the rows whose '
                "label looks wrong; they are shown here.</p>")
    issues = pd.read_csv(path, dtype={"id": str}, keep_default_na=False)
    checked = TRUSTED_COLUMN in issues.columns  # ranked by what people checked (label-issues --trusted)
    body = "".join(f'<tr><td class="l">{html.escape(str(r.id))}</td>'
                   f'<td class="l">{html.escape(str(r.given_label))}</td>'
                   f'<td class="l">{html.escape(str(r.suggested_label))}</td>'
                   + (f'<td class="l">{html.escape(str(getattr(r, TRUSTED_COLUMN)))}</td>' if checked else "")
                   + f'<td>{float(r.score):.3f}</td><td class="text">{html.escape(str(r.text))}</td></tr>'
                   for r in issues.head(rows).itertuples())
    dups = duplicates_path(path)
    n_dups = len(pd.read_csv(dups, usecols=["group"])) if dups.is_file() else 0
    how = ("by confident learning on out-of-fold probabilities", "score is the out-of-fold probability that the "
           "given label is wrong")
    if checked:
        how = ("by a model of where people disagreed with the given labels, on the rows they checked",
               "score is the learned probability that people would disagree with the given label; checked is "
               "people's label, where they checked the row")
    return (f"<p>{len(issues):,} rows flagged {how[0]} "
            f"({html.escape(path.name)}); the {min(rows, len(issues))} most likely wrong: {how[1]}. "
            f"{n_dups:,} rows are near-duplicate texts with conflicting "
            f"labels ({html.escape(dups.name)}).</p>"
            '<table><tr><th class="l">id</th><th class="l">given</th><th class="l">suggested</th>'
            + ('<th class="l">checked</th>' if checked else "")
            + f'<th>score</th><th class="l">text</th></tr>{body}</table>')


def second_labels(run: Run, source: str | Path) -> dict[str, str]:
    """A second label per row id: a column of the run's data file named ``source``, else a CSV or Parquet file
    whose first column is the id and whose second is the label (HappyDB's ``ground_truth_train.csv``); see
    :func:`textladder.data.reader.read_id_labels`."""
    frame, _ = read_id_labels(source, run.config.data.path, run.config.data.id_col)
    return dict(zip(frame["id"], frame["label"]))


def _second_label_section(rows: list[dict], runs: dict[str, Run], labels: dict[str, str], name: str) -> str:
    """Each run's test accuracy on the rows that have a second label, against it and against the given label."""
    body = []
    for row in rows:
        path = runs[row["run"]].path / TEST_PREDICTIONS
        if not path.is_file():
            continue
        pred = pd.read_csv(path, usecols=["id", "true", "predicted"], dtype=str, keep_default_na=False)
        pred = pred[pred["id"].isin(labels)]
        if pred.empty:
            continue
        second = pred["id"].map(labels)
        body.append(f'<tr><td class="l">{html.escape(row["run"])}</td><td>{len(pred):,}</td>'
                    f'<td>{(pred["predicted"] == second).mean():.4f}</td><td>{(pred["predicted"] == pred["true"]).mean():.4f}</td>'
                    f'<td>{(pred["true"] == second).mean():.4f}</td></tr>')
    if not body:
        return f'<p class="muted">No test row has a label in {html.escape(name)}.</p>'
    return (f"<p>Test rows that also have a label in {html.escape(name)}: how often each run agrees with it, with the "
            "given label, and how often the two labels agree with each other.</p>"
            '<table><tr><th class="l">run</th><th>rows</th><th>agrees with the second label</th>'
            f'<th>agrees with the given label</th><th>the labels agree</th></tr>{"".join(body)}</table>')


def _per_class_table(run: Run) -> str:
    """Test precision, recall, F1 and support of each class, worst F1 first."""
    per_class = run.metrics.get("test", {}).get("per_class", {})
    if not per_class:
        return ""
    body = "".join(
        f'<tr><td class="l">{html.escape(c)}</td><td>{_f(v.get("precision"), 3)}</td><td>{_f(v.get("recall"), 3)}</td>'
        f'<td>{_f(v.get("f1"), 3)}</td><td>{int(v.get("support", 0)):,}</td></tr>'
        for c, v in sorted(per_class.items(), key=lambda kv: kv[1].get("f1", 0)))
    return ('<table class="per-class"><tr><th class="l">class (test, worst F1 first)</th><th>precision</th>'
            f"<th>recall</th><th>F1</th><th>rows</th></tr>{body}</table>")


def _run_section(run: Run, opened: bool = False) -> str:
    m = run.metrics
    test = m.get("test", {})
    imgs = [_b64_img(run.path / f, f"{run.name} {f}") for f in ("confusion_matrix.png", "confusion_matrix_normalized.png",
                                                                "learning_curve.png",
                                                                "reliability.png", "coverage.png",
                                                                "search/history.png", "search/importance.png")
            if (run.path / f).is_file()]
    members = ""
    if run.config.model == "ensemble":
        members = "<p>Members: " + ", ".join(
            f'{html.escape(x["run"])} (test accuracy {x["test_accuracy"]:.4f}, weight {x["weight"]:g})'
            for x in m.get("members", [])) + "</p>"
    params = html.escape(", ".join(f"{k}={v}" for k, v in run.config.params.items() if k != "members"))
    how = f"trained on {html.escape(run.trained_on)}"
    if m.get("val_source"):
        how += f"; validation figures: {html.escape(m['val_source'])}"
    if m.get("learned_from"):
        how += f"; combined from {html.escape(m['learned_from'])}"
    cv = m.get("cv")
    if cv:
        how += (f"; {cv['k']}-fold cross-validation: accuracy {cv['accuracy']['mean']:.4f} ± {cv['accuracy']['std']:.4f}, "
                f"macro-F1 {cv['macro_f1']['mean']:.4f} ± {cv['macro_f1']['std']:.4f}")
    study = run.path / "search" / "study.json"
    if study.is_file():
        import json

        try:
            st = json.loads(study.read_text(encoding="utf-8"))
            how += (f"; chosen by a search of {st['finished']} trials ({st['pruned']} pruned): validation "
                    f"{html.escape(st['metric'])} {st['best_value']:.4f}, the defaults "
                    f"{_f(st.get('default_value'))}")
        except (ValueError, KeyError, TypeError):
            pass
    return (f'<details id="run-{html.escape(run.name)}"{" open" if opened else ""}><summary>{html.escape(run.name)}: accuracy '
            f'{_f(test.get("accuracy"))}, macro-F1 {_f(test.get("macro_f1"))}</summary>'
            f'<p class="muted">model {html.escape(run.config.model)}; balance {html.escape(run.config.balance)}; '
            f"parameters: {params}; trained in {_f(m.get('train_seconds'), 1)} s; {how}.</p>{members}"
            f'<div class="row">{_per_class_table(run)}{"".join(imgs)}</div></details>')


def write_report(runs_dir: str | Path, out: str | Path | None = None, runs: list[Run] | None = None,
                 top_words: int = 1000, examples: int = 5, second_label: str | Path | None = None) -> Path:
    """Write the report of ``runs`` (default: every finished run in ``runs_dir``) to ``out``
    (default ``RUNS_DIR/report.html``), atomically; returns its path. ``second_label``: a column of the data,
    or a file of ids and labels (HappyDB's human labels), that each run's test predictions are also
    compared with."""
    from bokeh.embed import components
    from bokeh.resources import INLINE

    runs_dir = Path(runs_dir)
    runs = runs if runs is not None else list_runs(runs_dir)
    if not runs:
        raise TextladderError(f"{runs_dir}: no finished runs to report on")
    by_name = {r.name: r for r in runs}
    rows = leaderboard(runs, by="pick")
    best = by_name[rows[0]["run"]]  # as ranking.best picks it
    classes = best.classes
    figures = {"scores": _score_chart(rows, blog=best.config.data.sha256 == HAPPYDB_SHA256)}
    ds = _load_data(best)
    wv = _word_vector_run(rows, by_name)
    if wv is not None:
        from textladder.viz.wordmap import word_classes, word_map_figure

        wv_run, words, matrix = wv
        n = min(top_words, len(words))
        groups = None
        if ds is not None and ds.labels is not None:
            train = set(wv_run.split_ids.get("train", []))
            keep = np.fromiter((i in train for i in ds.ids), dtype=bool, count=len(ds))
            groups = word_classes(words[:n], ds.texts[keep], ds.labels[keep])
        for method in ("pca", "tsne"):
            figures[method] = word_map_figure(words, matrix, method=method, top=n, width=600, height=520,
                                              groups=groups,
                                              title=f"{method.upper()}: {n:,} most common words of {wv_run.name}")
    script, divs = components(figures)
    with tempfile.TemporaryDirectory() as tmp:
        data_html = _data_section(best, ds, Path(tmp))
        trust_html = _trust_section(rows, by_name, best, Path(tmp))
    why_html = _why_section(best, ds, classes)
    second_html = ""
    if second_label is not None:
        second_html = ("<h2>Agreement with a second label</h2>"
                       + _second_label_section(rows, by_name, second_labels(best, second_label), str(second_label)))
    issues_html = _label_issues_section(runs_dir)
    maps = (f'<p>Words of <a href="#run-{html.escape(wv[0].name)}">{html.escape(wv[0].name)}</a> '
            f"({html.escape(wv[0].config.model)}), the best run on validation that has word vectors.</p>"
            f'<div class="row">{divs["pca"]}{divs["tsne"]}</div>' if wv is not None else
            '<p class="muted">No run with word vectors (train a neural or fastText rung to see word maps).</p>')
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>textladder report: {html.escape(str(runs_dir))}</title>
<style>{CSS}</style>
{INLINE.render_css()}
{INLINE.render_js()}
{script}
</head><body>
<h1>textladder report</h1>
<p class="muted">{html.escape(str(runs_dir))}: {len(runs)} runs, written {now}.</p>
<p>Best on validation: <b>{html.escape(best.name)}</b> ({html.escape(best.config.model)}),
test accuracy {_f(rows[0]["accuracy"])}, macro-F1 {_f(rows[0]["macro_f1"])}.</p>
<h2>Leaderboard</h2>
<div style="overflow-x: auto">{_leaderboard_table(rows, by_name, classes)}</div>
{divs["scores"]}
{second_html}
<h2>Data</h2>
{data_html}
<h2>Runs</h2>
<p class="muted">Each run: precision, recall and F1 of each class, and the confusion matrix of the test split
in counts and with each row normalised to the true class.</p>
{"".join(_run_section(by_name[r["run"]], opened=i == 0) for i, r in enumerate(rows))}
<h2>Word maps</h2>
<p class="muted">Each point is a word; its colour is the class whose training texts contain it most often,
relative to the class's size (grey: rare words). Words a model confuses sit between the colours.</p>
{maps}
<h2>Can its confidence be trusted?</h2>
{trust_html}
<h2>Why it says what it says</h2>
{why_html}
<h2>Labels that look wrong</h2>
{issues_html}
<h2>Mistakes of the best run, per true class</h2>
<p class="muted">The {examples} most confident mistakes of {html.escape(best.name)} for each class.</p>
{_mistakes(best, classes, examples)}
</body></html>
"""
    out = Path(out) if out is not None else runs_dir / REPORT
    with lock(out), atomic_file(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out
