"""Custom data sets: every file format, class names, the stratified dev split, k-fold splits, exact
messages for bad data and bad configs, and a custom CSV trained, explained and cross-validated end
to end (string labels kept as names throughout)."""
import json
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from conftest import script_in_process

from textdeconv.config import ConfigError, load_config
from textdeconv.data.custom import read_records
from textdeconv.data.download import resolve_data_dir
from textdeconv.data.splits import check_data, class_names, clean_splits, load_split, load_splits, pin
from textdeconv.errors import DataError

ROOT = Path(__file__).resolve().parents[1]


def custom(train, *extra):
    """A custom data config reading ``train`` (plus ``--set`` style overrides)."""
    return load_config(None, ["data.dataset=custom", f"data.train={train}", *extra]).data


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def records(path, *extra):
    return [(r.tokens, r.label, r.where) for r in read_records(str(path), custom(path, *extra))]


def texts(examples):
    return [" ".join(ex.tokens) for ex in examples]


# --------------------------------------------------------------------------------------------
# One test per format: tokens (vocab.tokenize, case kept), label text, file:line


def test_csv_quoted_fields_extra_columns_and_a_multiline_record(tmp_path):
    p = write(tmp_path / "r.csv", 'id,text,label\n1,"Great, fun!",pos\n2,"He said ""wow"", twice",neg\n'
                                  '\n3,"two\nlines",pos\n')
    assert records(p) == [
        (("Great", ",", "fun", "!"), "pos", f"{p}:2"),
        (("He", "said", "``", "wow", "''", ",", "twice"), "neg", f"{p}:3"),
        (("two", "lines"), "pos", f"{p}:5"),  # the blank line 4 is skipped; a record is named by its first line
    ]


def test_tsv_other_column_names_crlf_and_unquoted_quotes(tmp_path):
    p = write(tmp_path / "r.tsv", 'sentiment\tsentence\r\npos\ta "so-called" comedy\r\nneg\tdull\r\n')
    assert records(p, "data.text_column=sentence", "data.label_column=sentiment") == [
        (("a", "``", "so-called", "''", "comedy"), "pos", f"{p}:2"),
        (("dull",), "neg", f"{p}:3"),
    ]


def test_jsonl_with_integer_labels(tmp_path):
    p = write(tmp_path / "r.jsonl", '{"text": "great fun", "label": 1}\n{"label": 0, "text": "a dull mess"}\n\n'
                                    '{"text": "fine", "label": "10", "extra": [1, 2]}\n')
    assert records(p) == [(("great", "fun"), "1", f"{p}:1"), (("a", "dull", "mess"), "0", f"{p}:2"),
                          (("fine",), "10", f"{p}:4")]


def test_label_first_lines(tmp_path):
    p = write(tmp_path / "r.txt", "1 the movie was great\n0\ta dull mess\n\n  \n3 fine\n")
    assert records(p) == [(("the", "movie", "was", "great"), "1", f"{p}:1"), (("a", "dull", "mess"), "0", f"{p}:2"),
                          (("fine",), "3", f"{p}:5")]
    other = write(tmp_path / "stsa.binary.train", "1 good\n0 bad\n")  # Kim's files: set data.format
    assert records(other, "data.format=label-first")[1] == (("bad",), "0", f"{other}:2")


def test_pos_neg_pair_in_latin1_named_by_either_file_or_the_prefix(tmp_path):
    pos = write(tmp_path / "rt-polarity.pos", "a café treat\nnaïve fun\n", encoding="latin-1")
    neg = write(tmp_path / "rt-polarity.neg", "dull as ditchwater\n", encoding="latin-1")
    expected = [(("a", "café", "treat"), "positive", f"{pos}:1"), (("naïve", "fun"), "positive", f"{pos}:2"),
                (("dull", "as", "ditchwater"), "negative", f"{neg}:1")]
    assert records(pos, "data.encoding=latin-1") == expected
    assert records(neg, "data.encoding=latin-1") == expected
    assert records(tmp_path / "rt-polarity", "data.encoding=latin-1", "data.format=pos-neg") == expected
    with pytest.raises(DataError) as e:  # read as UTF-8: the byte of "é" names file, line and column
        records(pos)
    assert str(e.value) == (f"{pos}:1: not valid utf-8 (byte 0xe9 at column 6); set data.encoding (the MR "
                            "rt-polarity files are latin-1) or re-encode the file")


# --------------------------------------------------------------------------------------------
# Class names and ids


@pytest.mark.parametrize("labels, classes", [
    (["pos", "neg", "neutral", "pos"], ("neg", "neutral", "pos")),   # strings: sorted
    (["2", "10", "1", "2"], ("1", "2", "10")),                       # integers: numeric order
    (["-1", "1", "-1"], ("-1", "1")),
])
def test_class_names_come_from_the_training_labels(tmp_path, labels, classes):
    p = write(tmp_path / "t.csv", "text,label\n" + "".join(f"w{i},{y}\n" for i, y in enumerate(labels)))
    splits, names = load_splits(custom(p, f"data.dev={p}"))
    assert names == classes
    assert [names[ex.label] for ex in splits["train"]] == labels and "test" not in splits


def test_configured_class_order_sets_the_ids(tmp_path):
    p = write(tmp_path / "t.csv", "text,label\ngood,pos\nbad,neg\n")
    splits, names = load_splits(custom(p, f"data.dev={p}", "data.classes=[pos, neg]"))
    assert names == ("pos", "neg") and [ex.label for ex in splits["train"]] == [0, 1]


@pytest.mark.parametrize("name, text, message", [
    ("t.csv", "text,label\ngood,pos\nbad,neg\nfine,1\nawful,0\n",
     "{p}:4: label '1' is an integer, but the labels before it are words ('pos' on {p}:2); fix the labels, or list "
     "every class in data.classes if they really are 4 classes (e.g. data.classes=[0, 1, neg, pos])"),
    ("t.txt", "1 good\n10 great\n\n0 bad\npos fine\n",
     "{p}:5: label 'pos' is a word, but the labels before it are integers ('1' on {p}:1); fix the labels, or list "
     "every class in data.classes if they really are 4 classes (e.g. data.classes=[0, 1, 10, pos])"),
    ("t.jsonl", '{"text": "good", "label": "pos"}\n{"text": "bad", "label": 0}\n',
     "{p}:2: label '0' is an integer, but the labels before it are words ('pos' on {p}:1); fix the labels, or list "
     "every class in data.classes if they really are 2 classes (e.g. data.classes=[0, pos])"),
])
def test_mixed_label_kinds_are_refused_with_file_and_line(tmp_path, name, text, message):
    p = write(tmp_path / name, text)
    with pytest.raises(DataError) as e:
        load_splits(custom(p, f"data.dev={p}"))
    assert str(e.value) == message.format(p=p)


def test_mixed_label_kinds_are_accepted_when_data_classes_lists_them(tmp_path):
    p = write(tmp_path / "t.csv", "text,label\ngood,pos\nbad,neg\nfine,1\nawful,0\n")
    splits, names = load_splits(custom(p, f"data.dev={p}", "data.classes=[pos, neg, 1, 0]"))
    assert names == ("pos", "neg", "1", "0") and [ex.label for ex in splits["train"]] == [0, 1, 2, 3]


def test_pin_makes_paths_absolute_and_keeps_the_classes(tmp_path, monkeypatch):
    write(tmp_path / "t.csv", "text,label\ngood,pos\nbad,neg\n")
    monkeypatch.chdir(tmp_path)
    cfg = custom("t.csv", "data.test=t.csv")
    pinned = pin(cfg, ("neg", "pos"))
    assert pinned.train == pinned.test == str(tmp_path.resolve() / "t.csv") and pinned.dev is None
    assert class_names(pinned) == ("neg", "pos")
    sst = load_config().data  # SST: only the folder is pinned, resolved as the data was found
    assert pin(sst, ("x", "y")) == replace(sst, dir=str(resolve_data_dir(None).resolve()))
    with pytest.raises(ValueError, match="data.classes is not set"):
        class_names(cfg)


def test_a_home_relative_path_is_read_checked_and_pinned(tmp_path, monkeypatch):
    """``~/...`` as the documented custom-data example writes it: checked, read and pinned from $HOME."""
    monkeypatch.setenv("HOME", str(tmp_path))
    write(tmp_path / "t.csv", "text,label\ngood,pos\nbad,neg\n")
    cfg = custom("~/t.csv", "data.test=~/t.csv")
    warnings = []
    check_data(cfg, warn=warnings.append)  # found, and train = test is noticed through the ~
    assert warnings == ["data.test is data.train (~/t.csv): the test scores measure how well the model "
                        "remembers its train sentences, not how it generalises"]
    assert [(r.tokens, r.label) for r in read_records("~/t.csv", cfg)] == [(("good",), "pos"), (("bad",), "neg")]
    assert pin(cfg, ("neg", "pos")).train == str(tmp_path.resolve() / "t.csv")


# --------------------------------------------------------------------------------------------
# Stratified dev split and k-fold cross-validation


def test_stratified_dev_split_counts_are_exact(tmp_path):
    rows = [(f"a{i}", "a") for i in range(12)] + [(f"b{i}", "b") for i in range(8)]
    p = write(tmp_path / "t.csv", "text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    cfg = custom(p, "data.dev_fraction=0.25", f"data.test={p}")
    splits, names = load_splits(cfg)
    count = {s: Counter(names[ex.label] for ex in splits[s]) for s in ("train", "dev")}
    assert count == {"train": {"a": 9, "b": 6}, "dev": {"a": 3, "b": 2}}   # ceil(0.25 * 20) = 5, 12:8 kept
    assert sorted(texts(splits["train"]) + texts(splits["dev"])) == sorted(t for t, _ in rows)
    for s in ("train", "dev"):  # file order kept inside each split
        assert texts(splits[s]) == [t for t, _ in rows if t in set(texts(splits[s]))]
    assert load_splits(cfg)[0] == splits                                     # data.seed: reproducible
    assert texts(load_splits(custom(p, "data.dev_fraction=0.25", "data.seed=1"))[0]["dev"]) != texts(splits["dev"])
    assert len(load_splits(custom(p, "data.dev_fraction=0.25", "data.max_train=4", "data.max_eval=2"))[0]["dev"]) == 2


def test_three_folds_test_every_example_exactly_once(tmp_path):
    rows = [(f"p{i}", "pos") for i in range(9)] + [(f"n{i}", "neg") for i in range(6)]
    p = write(tmp_path / "t.csv", "text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    tested = []
    for fold in (1, 2, 3):
        splits, names = load_splits(custom(p, "data.cv_folds=3", f"data.fold={fold}", "data.dev_fraction=0.2"))
        counts = {s: Counter(names[ex.label] for ex in splits[s]) for s in splits}
        assert counts["test"] == {"pos": 3, "neg": 2}                       # 15 / 3, stratified 9:6
        assert sum(counts["dev"].values()) == 2 and sum(counts["train"].values()) == 8   # ceil(0.2 * 10)
        assert set(counts["dev"]) == {"pos", "neg"}
        parts = [texts(splits[s]) for s in ("train", "dev", "test")]
        assert sorted(sum(parts, [])) == sorted(t for t, _ in rows)           # disjoint, nothing lost
        tested += parts[2]
    assert sorted(tested) == sorted(t for t, _ in rows) and len(tested) == 15


# --------------------------------------------------------------------------------------------
# Bad data: exact messages


@pytest.mark.parametrize("name, text, extra, message", [
    ("t.csv", "text,label\ngood,pos\n  ,neg\n", (), "{p}:3: empty text (column 'text')"),
    ("t.csv", "text,label\ngood,pos\n\x07,neg\n", (), "{p}:3: empty text (column 'text')"),  # control chars only
    ("t.txt", "1 good\n0\n", (), "{p}:2: empty text (after the label)"),
    ("t.jsonl", '{"text": "", "label": "x"}\n', (), "{p}:1: empty text (key 'text')"),
    ("t.csv", "text,label\ngood,\n", (), "{p}:2: empty label"),
    ("t.csv", "text,sentiment\ngood,pos\n", (), "{p}:1: no column 'label' (columns found: text, sentiment); "
                                               "set data.label_column"),
    ("t.tsv", "review\tlabel\ngood\tpos\n", (), "{p}:1: no column 'text' (columns found: review, label); "
                                              "set data.text_column"),
    ("t.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "y": 0}\n', (),
     "{p}:2: no key 'label' (keys found: text, y); set data.label_column"),
    ("t.jsonl", '{"text": "good" "label": 1}\n', (), "{p}:1: not valid JSON (Expecting ',' delimiter at column 17)"),
    ("t.jsonl", '["good", 1]\n', (), "{p}:1: expected a JSON object, got list"),
    ("t.jsonl", '{"text": "good", "label": 1.5}\n', (), "{p}:1: 'label' must be a string or an integer, got 1.5"),
    ("t.jsonl", '{"text": 3, "label": 1}\n', (), "{p}:1: 'text' must be a string, got 3"),
    ("t.csv", "text,label\ngood,pos,extra\n", (), "{p}:2: 3 fields, but the header has 2 (text, label)"),
    ("t.csv", "text,label\n", (), "{p}: no examples"),
    ("t.csv", "text,label\ngood,pos\nnice,pos\n", (), "{p}: every training example has the label 'pos'; "
                                                    "a classifier needs at least two classes"),
    ("t.csv", "text,label\ngood,pos\nbad,neg\nso-so,meh\n", ("data.classes=[pos, neg]",),
     "{p}:4: label 'meh' is not in data.classes (pos, neg)"),
    ("t.csv", "text,label\ngood,pos\nbad,neg\n", ("data.classes=[pos, neutral, neg]",),
     "{p}: no training example of class 'neutral' (data.classes)"),
    ("t.csv", "text,label\ngood,pos\nbad,neg\nnice,pos\n", (),
     "{p}: class 'neg' has 1 example(s); a stratified dev split needs at least 2 of each class (or give data.dev)"),
    ("t.csv", "text,label\n" + "g,pos\n" * 5 + "b,neg\n" * 2, ("data.cv_folds=3", "data.fold=1"),
     "{p}: class 'neg' has 2 example(s), fewer than data.cv_folds=3; every fold needs one of each class"),
    ("t.csv", "text,label\ng,pos\nb,neg\n", ("data.cv_folds=3",),
     "data.cv_folds=3 trains one model per fold: run scripts/train.py --cv 3 "
     "(textdeconv.crossval.cross_validate), or set data.fold to train one"),
    ("t.dat", "text,label\n", (), "{p}: cannot tell the format from the extension '.dat'; "
                                  "set data.format to one of csv, tsv, jsonl, label-first, pos-neg"),
])
def test_bad_data_messages(tmp_path, name, text, extra, message):
    p = write(tmp_path / name, text)
    with pytest.raises(DataError) as e:
        load_splits(custom(p, *extra))
    assert str(e.value) == message.format(p=p)


def test_invalid_utf8_names_file_line_and_byte_column(tmp_path):
    p = tmp_path / "t.csv"
    p.write_bytes(b"text,label\ngood,pos\ncaf\xe9 bad,neg\n")  # one latin-1 line in a UTF-8 file
    with pytest.raises(DataError) as e:
        load_splits(custom(p))
    assert str(e.value) == (f"{p}:3: not valid utf-8 (byte 0xe9 at column 4); set data.encoding "
                            "(the MR rt-polarity files are latin-1) or re-encode the file")


@pytest.mark.parametrize("split", ["dev", "test"])
def test_a_label_seen_only_in_dev_or_test_is_named_with_its_file(tmp_path, split):
    train = write(tmp_path / "train.csv", "text,label\ngood,pos\nbad,neg\n")
    other = write(tmp_path / f"{split}.jsonl",
                  '{"text": "fine", "label": "pos"}\n{"text": "meh", "label": "neutral"}\n')
    with pytest.raises(DataError) as e:
        load_splits(custom(train, f"data.dev={train}", f"data.{split}={other}"))
    assert str(e.value) == (f"{other}:2: label 'neutral' does not occur in the training data {train} "
                            "(classes: neg, pos)")


def test_missing_files(tmp_path):
    pos = write(tmp_path / "mr.pos", "good\n")
    with pytest.raises(FileNotFoundError) as e:
        load_splits(custom(pos))
    assert str(e.value) == f"data file not found: {tmp_path / 'mr.neg'}"
    with pytest.raises(FileNotFoundError) as e:
        check_data(custom(pos))
    assert str(e.value) == f"data.train: data file not found: {tmp_path / 'mr.neg'}"
    train = write(tmp_path / "t.csv", "text,label\ngood,pos\nbad,neg\n")
    with pytest.raises(FileNotFoundError) as e:
        check_data(custom(train, f"data.test={tmp_path / 'nope.csv'}"))
    assert str(e.value) == f"data.test: data file not found: {tmp_path / 'nope.csv'}"
    check_data(custom(train))  # everything there: no error
    with pytest.raises(DataError) as e:
        load_split(custom(train, f"data.dev={train}"), "test")
    assert str(e.value) == "no test split: the run's data has no data.test file and is not a cross-validation fold"


# --------------------------------------------------------------------------------------------
# Inconsistent configs: exact messages


CUSTOM = ["data.dataset=custom", "data.train=t.csv"]


@pytest.mark.parametrize("overrides, message", [
    (["data.dataset=custom"], "--set data.dataset: data.dataset=custom needs data.train: a CSV, TSV or JSONL file, a "
                              "label-first text file, or an rt-polarity style .pos/.neg pair"),
    (["data.train=t.csv"], "--set data.train: 'data.train' applies to data.dataset=custom only (data.dataset=sst2 "
                           "reads the SST trees)"),
    (["data.dataset=sst5", "data.cv_folds=10"], "--set data.cv_folds and --set data.dataset: 'data.cv_folds' applies "
                                                "to data.dataset=custom only (data.dataset=sst5 reads the SST trees)"),
    (CUSTOM + ["data.dir=x"], "--set data.dir and --set data.dataset: 'data.dir' is the SST folder; custom data is "
                              "read from data.train, data.dev and data.test"),
    (CUSTOM + ["data.dev_fraction=1"], "--set data.dev_fraction: 'data.dev_fraction' must be in (0, 1), got 1.0"),
    (CUSTOM + ["data.encoding=klingon"], "--set data.encoding: 'data.encoding' 'klingon' is not an encoding Python "
                                         "knows (e.g. utf-8, latin-1)"),
    (CUSTOM + ["data.format=xml"], "--set data.format: 'data.format' must be one of csv, tsv, jsonl, label-first, "
                                   "pos-neg or null, got 'xml'"),
    (CUSTOM + ["data.classes=[a]"], "--set data.classes: 'data.classes' must name at least two classes, got ['a']"),
    (CUSTOM + ["data.classes=[a, b, a]"], "--set data.classes: 'data.classes' lists 'a' twice"),
    (CUSTOM + ["data.cv_folds=1"], "--set data.cv_folds: 'data.cv_folds' must be at least 2 or null "
                                   "(no cross-validation), got 1"),
    (CUSTOM + ["data.cv_folds=10", "data.test=u.csv"], "--set data.cv_folds and --set data.test: data.cv_folds tests "
                                                       "on each fold of data.train in turn; drop data.test (or "
                                                       "data.cv_folds)"),
    (CUSTOM + ["data.cv_folds=10", "data.dev=u.csv"], "--set data.cv_folds and --set data.dev: data.cv_folds carves "
                                                      "each fold's dev set from its training part "
                                                      "(data.dev_fraction); drop data.dev"),
    (CUSTOM + ["data.fold=2"], "--set data.fold: 'data.fold' needs data.cv_folds"),
    (CUSTOM + ["data.cv_folds=3", "data.fold=4"], "--set data.fold and --set data.cv_folds: 'data.fold' must be "
                                                  "between 1 and 3, got 4"),
    (CUSTOM + ["data.max_train=0"], "--set data.max_train: 'data.max_train' must be at least 1 or null (no limit), "
                                    "got 0"),
    (CUSTOM + ["data.max_eval=0"], "--set data.max_eval: 'data.max_eval' must be at least 1 or null (no limit), "
                                   "got 0"),
    (CUSTOM + ["data.seed=-1"], "--set data.seed: 'data.seed' must be between 0 and 2147483647, got -1"),
    (CUSTOM + [("data.cv_folds", 1, "--cv")], "--cv: 'data.cv_folds' must be at least 2 or null "
                                              "(no cross-validation), got 1"),
])
def test_inconsistent_data_configs(overrides, message):
    with pytest.raises(ConfigError) as e:
        load_config(None, overrides)
    assert str(e.value) == message


def test_integer_class_names_may_be_given_as_numbers():
    assert load_config(None, CUSTOM + ["data.classes=[0, 1, pos]"]).data.classes == ("0", "1", "pos")


def test_train_script_reports_custom_data_problems_in_one_line_before_tensorflow(tmp_path):
    proc = subprocess.run([sys.executable, "scripts/train.py", "--config", "tiny.yaml", "--set", "data.dataset=custom",
                           "--set", f"data.train={tmp_path / 'missing.csv'}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == f"error: data.train: data file not found: {tmp_path / 'missing.csv'}"


# --------------------------------------------------------------------------------------------
# End to end: train, load, explain, cross-validate (TensorFlow)

REVIEWS = [("a gripping , funny movie", "good"), ("a dull , lifeless mess", "bad"), ("warm and engaging", "good"),
           ("the plot is thin", "bad"), ("great fun", "good"), ("bad acting , worse script", "bad"),
           ("a charming film", "good"), ("tedious and long", "bad")]


def tiny(*extra):
    return load_config("tiny.yaml", ["data.dataset=custom", "data.max_train=null", "data.max_eval=null",
                                     "model.filter_sizes=[2,3]", "train.learning_rate=0.02", *extra])


def test_custom_csv_trains_and_explains_with_its_class_names(tmp_path, monkeypatch, capsys):
    from textdeconv.training.rundir import check_run_dir, read_run
    from textdeconv.training.trainer import train

    write(tmp_path / "reviews.csv", "text,label\n" + "".join(f'"{t}",{y}\n' for t, y in REVIEWS))
    monkeypatch.chdir(tmp_path)  # relative paths: the run must save them absolute
    run = tmp_path / "run"
    metrics = train(tiny("data.train=reviews.csv", "data.dev=reviews.csv", "data.test=reviews.csv",
                         "train.epochs=3"), run, verbose=0)
    assert metrics["test"]["classes"] == ["bad", "good"] and metrics["test"]["n"] == 8
    saved = load_config(run / "config.yaml").data
    assert saved.classes == ("bad", "good") and saved.train == str(tmp_path.resolve() / "reviews.csv")
    assert check_run_dir(run)[1] == ("bad", "good") and read_run(run)[3] == ("bad", "good")
    out = tmp_path / "test.csv"
    code, _, err = script_in_process(monkeypatch, capsys, "explain.py", "--run", run, "--split", "test", "--csv", out,
                              "--quiet", "--target", "good")
    assert code == 0, err
    frame = pd.read_csv(out)
    per_sentence = frame.groupby("sentence_id").first()
    assert per_sentence["gold"].tolist() == [y for _, y in REVIEWS]
    assert per_sentence["sentence"].tolist() == [t for t, _ in REVIEWS]
    assert set(frame["target"]) == {"good"} and set(frame["predicted"]) <= {"bad", "good"}


def test_cross_validation_trains_every_fold_and_summarises(tmp_path):
    from textdeconv.training.crossval import cross_validate, is_cv_run
    from textdeconv.training.rundir import check_run_dir

    rows = [(f"{t} {i}", y) for i in range(2) for t, y in REVIEWS][:15]  # 15 rows: 8 good, 7 bad
    train_csv = write(tmp_path / "t.csv", "text,label\n" + "".join(f'"{t}",{y}\n' for t, y in rows))
    run = tmp_path / "cv"
    cv = cross_validate(tiny(f"data.train={train_csv}", "data.cv_folds=3", "data.dev_fraction=0.2",
                             "train.epochs=1"), run, verbose=0)
    assert [f["fold"] for f in cv["per_fold"]] == [1, 2, 3] and [f["test_n"] for f in cv["per_fold"]] == [5, 5, 5]
    accs = [f["test_accuracy"] for f in cv["per_fold"]]
    assert cv["test_accuracy"]["mean"] == pytest.approx(sum(accs) / 3)
    assert cv["test_accuracy"]["sd"] == pytest.approx(pd.Series(accs).std(ddof=1))
    assert json.loads((run / "cv.json").read_text()) == cv and cv["classes"] == ["bad", "good"]
    for fold in (1, 2, 3):
        cfg, names = check_run_dir(run / f"fold-{fold}")
        assert cfg.data.fold == fold and names == ("bad", "good")
    assert is_cv_run(run) and not is_cv_run(run / "fold-1")
    with pytest.raises(FileNotFoundError) as e:
        check_run_dir(run)
    assert str(e.value) == (f"{run} is not a finished run: missing vocab.txt, model.keras "
                            "(it holds cross-validation folds: pass RUN/fold-K)")
    assert cross_validate(None, run, resume=True, verbose=0) == cv  # finished folds resume to their metrics


def test_clean_splits_drops_emptied_training_examples_only():
    from textdeconv.data.treebank import Example

    splits = {"train": [Example((".",), 1), Example(("well-made", "."), 3)], "dev": [Example(("--",), 0)],
              "test": [Example(("fun", "!"), 4)]}
    assert clean_splits(splits, None) is splits
    assert clean_splits(splits, "kim") == {"train": [Example(("well", "made"), 3)], "dev": [Example((), 0)],
                                           "test": [Example(("fun", "!"), 4)]}


def test_load_splits_applies_the_runs_cleaning(tmp_path):
    p = write(tmp_path / "t.csv", "text,label\n\"a well-made film .\",pos\n\". . .\",neg\n\"dull --\",neg\n")
    raw, names = load_splits(custom(p, f"data.dev={p}"))
    cleaned, cleaned_names = load_splits(custom(p, f"data.dev={p}"), "kim")
    assert cleaned_names == names and cleaned == clean_splits(raw, "kim")
    assert [ex.tokens for ex in cleaned["train"]] == [("a", "well", "made", "film"), ("dull",)]
