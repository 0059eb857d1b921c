"""Strict inputs (issue 32): YAML aliases and duplicate keys refused in configs, run folders and
--set values (a "billion laughs" bomb in well under a second, with a short message); values quoted
in errors cut short; duplicate CSV headers refused; a CSV field as long as a real document read;
numeric keys bounded where a value could exhaust the machine."""
import shutil
import time

import pytest

from textdeconv.config import load_config
from textdeconv.errors import ConfigError, DataError

BOMB = "\n".join(["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] +
                 [f"{chr(98 + k)}: &{chr(98 + k)} [{', '.join(['*' + chr(97 + k)] * 9)}]" for k in range(8)]) + "\n"


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text("train:\n  epochs: 3\n" + BOMB)
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert time.perf_counter() - t0 < 1.0
    assert str(e.value) == (f"{path}: line 4: YAML aliases (*a) are not allowed in a config; write the value out")


def test_an_alias_in_a_set_value_is_refused_in_one_short_line():
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as e:
        load_config(None, ["data.classes=[&x [a, a, a, a], *x, *x, *x, *x]"])
    assert time.perf_counter() - t0 < 1.0
    assert str(e.value) == ("--set data.classes: line 1: YAML aliases (*x) are not allowed in a config; write the "
                            "value out")


def test_a_bomb_in_a_run_folders_config_is_refused(tiny_run, tmp_path):
    from textdeconv.training.rundir import check_run_dir

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "config.yaml").write_text((run / "config.yaml").read_text() + BOMB)
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"config.yaml: line \d+: YAML aliases \(\*a\) are not allowed"):
        check_run_dir(run)
    assert time.perf_counter() - t0 < 1.0


def test_an_anchor_without_alias_is_plain_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train: &t\n  epochs: 3\n")
    assert load_config(path).train.epochs == 3


def test_duplicate_yaml_keys_are_refused_naming_them(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 3\n  batch_size: 10\n  epochs: 30\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value) == f"{path}: line 4: key 'epochs' is given twice (first on line 2); keep one"
    path.write_text("train:\n  epochs: 3\nmodel: {}\ntrain:\n  seed: 1\n")
    with pytest.raises(ConfigError, match=r"line 4: key 'train' is given twice \(first on line 1\)"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"^--set model.filter_sizes: line 1: key 'a' is given twice"):
        load_config(None, ["model.filter_sizes={a: 1, a: 2}"])


def test_values_quoted_in_errors_are_cut_short():
    huge = "x" * 1_000_000
    for override in (f"train.optimizer={huge}", f"model.variant=[{huge}]", f"{huge}=1", f"train.epochs={huge}"):
        with pytest.raises(ConfigError) as e:
            load_config(None, [override])
        assert "x" * 100 not in str(e.value) and len(str(e.value)) < 1500, str(e.value)[:300]
    with pytest.raises(ConfigError) as e:
        load_config(None, [f"train.optimizer={huge}"])
    assert str(e.value) == ("--set train.optimizer: 'train.optimizer' must be one of adadelta, adam, got "
                            f"'{'x' * 80}...' (1,000,000 characters)")


def test_overrides_as_a_dict_or_a_string():
    with pytest.raises(ConfigError, match=r"^--set nokey: unknown key 'nokey'"):
        load_config(None, {"nokey": 1})
    assert load_config(None, {"train.epochs": 2}).train.epochs == 2
    with pytest.raises(ConfigError, match=r"^overrides must be a list of 'KEY=VALUE' strings or a dict, got one "
                                          r"string 'train.epochs=1': wrap it in a list$"):
        load_config(None, "train.epochs=1")
    with pytest.raises(ConfigError, match=r"an override is 'KEY=VALUE', \(key, value\) or \(key, value, origin\), "
                                          "got 5"):
        load_config(None, [5])


def test_the_api_train_refuses_one_string_of_overrides(tmp_path):
    import textdeconv as td
    from textdeconv.errors import InputError

    with pytest.raises(InputError, match=r"^overrides must be a dict or a list of 'key=value' strings, got one "
                                         r"string: wrap it in a list, e.g. \['train.epochs=1'\]$"):
        td.train("tiny.yaml", tmp_path / "r", overrides="train.epochs=1")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("override, message", [
    ("model.embedding_dim=1099511627776", "'model.embedding_dim' must be between 1 and 4096, got 1099511627776"),
    ("model.num_filters=100000", "'model.num_filters' must be between 1 and 10000, got 100000"),
    ("train.batch_size=100000000", "'train.batch_size' must be between 1 and 65536, got 100000000"),
    ("model.filter_sizes=[3, 1000]", "'model.filter_sizes' must each be between 1 and 100, got [3, 1000]"),
])
def test_sizes_that_would_exhaust_the_machine_are_refused(override, message):
    with pytest.raises(ConfigError) as e:
        load_config(None, [override])
    assert str(e.value) == f"--set {override.split('=')[0]}: {message}"


# --------------------------------------------------------------------------------------------
# CSV data files


def custom(path, **kw):
    from textdeconv.config import DataConfig

    return DataConfig(dataset="custom", train=str(path), **kw)


def test_duplicate_csv_headers_are_refused_naming_them(tmp_path):
    from textdeconv.data.custom import read_records

    path = tmp_path / "d.csv"
    path.write_text("text,label,text\ngood film,pos,bad film\n")
    with pytest.raises(DataError) as e:
        read_records(str(path), custom(path))
    assert str(e.value) == f"{path}:1: the header names 'text' more than once; give each column its own name"
    path.write_text("label\ttext\tlabel\npos\tgood film\tneg\n")
    with pytest.raises(DataError, match=r"the header names 'label' more than once"):
        read_records(str(path), custom(path, format="tsv"))


def test_a_csv_field_as_long_as_a_document_is_read(tmp_path):
    import csv

    from textdeconv.data.custom import read_records

    words = ["word"] * 50_000  # 250,000 characters: past the csv module's default field limit of 131,072
    path = tmp_path / "d.csv"
    path.write_text("text,label\n\"" + " ".join(words) + "\",pos\nshort one,neg\n")
    limit = csv.field_size_limit()
    records = read_records(str(path), custom(path))
    assert [len(r.tokens) for r in records] == [50_000, 2] and [r.label for r in records] == ["pos", "neg"]
    assert csv.field_size_limit() == limit  # the process-wide limit is put back


def test_a_missing_column_names_the_option_it_came_from(tmp_path):
    from textdeconv.data.custom import read_records

    path = tmp_path / "d.csv"
    path.write_text("sentence,label\ngood film,pos\n")
    with pytest.raises(DataError) as e:
        read_records(str(path), custom(path), how={"text_column": "--text-column"})
    assert str(e.value) == f"{path}:1: no column 'text' (columns found: sentence, label); pass --text-column NAME"
    with pytest.raises(DataError, match=r"; set data.text_column$"):
        read_records(str(path), custom(path))


def test_labels_that_are_not_among_the_classes_are_refused(tmp_path):
    from textdeconv.cli.evaluate_model import check_labels
    from textdeconv.data.custom import read_records

    path = tmp_path / "d.csv"
    path.write_text("text,label\ngood film,1\nbad film,0\nfine,1\n")
    records = read_records(str(path), custom(path))
    with pytest.raises(DataError) as e:
        check_labels(records, ["negative", "positive"], path)
    assert str(e.value) == (f"{path}: labels '0', '1' are not among --classes (negative, positive); the labels must "
                            "name the classes, in the model's output order")
    check_labels(records, ["0", "1"], path)  # they are
    check_labels(records, None, path)  # without --classes there is nothing to compare


# --------------------------------------------------------------------------------------------
# a run folder whose files disagree; one-line load errors


def test_a_config_that_does_not_describe_the_model_is_refused(tiny_run, tmp_path):
    import yaml

    from textdeconv.training.rundir import read_run

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    dim, filters = cfg["model"]["embedding_dim"], cfg["model"]["num_filters"]
    cfg["model"]["embedding_dim"], cfg["model"]["num_filters"] = dim * 2, filters + 1
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(DataError) as e:
        read_run(run)
    assert str(e.value) == (f"{run}: config.yaml does not describe model.keras (model.embedding_dim {dim * 2} vs "
                            f"{dim}; model.num_filters {filters + 1} vs {filters}: config vs model); the files come "
                            "from different runs, or config.yaml was edited: restore it")


def test_a_run_that_is_a_file_is_named_so(tmp_path):
    import textdeconv as td
    from textdeconv.errors import InputError, MissingFileError

    (tmp_path / "run").write_text("not a folder")
    with pytest.raises(MissingFileError, match=rf"^{tmp_path / 'run'} is a file, not a run directory; pass the "
                                               "folder that holds config.yaml"):
        td.load_run(tmp_path / "run")
    with pytest.raises(InputError, match=r"^a run is a directory path or builtin:NAME, got 123$"):
        td.load_run(123)


def test_api_argument_types_raise_user_errors(tiny_run):
    import textdeconv as td
    from textdeconv.errors import InputError

    run = td.load_run(tiny_run)
    for bad in (0, -1, 1.5, True, "8", 10**9):
        with pytest.raises(InputError, match=r"^batch_size must be a whole number from 1 to 65536, got "):
            run.explain(["a dull mess"], batch_size=bad)
        with pytest.raises(InputError, match=r"^batch_size must be a whole number"):
            run.predict(["a dull mess"], batch_size=bad)
    with pytest.raises(InputError, match=r"^method must be a method name \(textdeconv.methods\(\)\), got 3$"):
        run.explain(["a dull mess"], method=3)


def test_keras_load_errors_are_one_short_line_without_the_unsafe_advice():
    from textdeconv.runtime import keras_error

    advice = ("Requested the deserialization of a Lambda layer whose Python code is not known. " + "x" * 3000 +
              " Pass `safe_mode=False` to the loading function in order to allow Lambda layer loading. More words.")
    line = keras_error(ValueError(advice))
    assert "safe_mode=False" not in line and len(line) < 300
    assert line.startswith("ValueError: Requested the deserialization of a Lambda layer whose Python code is not known")
    assert keras_error(FileNotFoundError("File not found: model.keras")) == "FileNotFoundError"


def test_a_json_body_nested_100000_deep_is_a_400(tiny_run):
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from textdeconv.serve.app import create_app
    from textdeconv.serve.explorer import Explorer

    client = TestClient(create_app(Explorer.open([tiny_run])), base_url="http://127.0.0.1",
                        raise_server_exceptions=False)
    for depth in (100_000, 33):
        body = b'{"texts": ' + b"[" * depth + b"]" * depth + b"}"
        r = client.post("/api/explain", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400, r.text
        assert r.json() == {"error": "the body is nested too deeply (more than 32 levels of arrays and objects)"}
    r = client.post("/api/explain", content=b'{"texts": [["a", "b"]]}', headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text  # a token list: 3 levels, as the API needs


# --------------------------------------------------------------------------------------------
# the studies and download: one line each, blaming the right option


def test_a_study_that_scored_nothing_fails_naming_why():
    from textdeconv.cli.groundtruth import check_scored

    rows = {"trigger": {"status": "ignored", "flip_rate": {"mean": 0.12, "sd": 0.02}},
            "negation": {"status": "no sentences", "flip_rate": {"mean": None}}}
    with pytest.raises(DataError) as e:
        check_scored({"rows": rows, "methods": {}}, "out.json")
    assert str(e.value) == ("the study scored nothing (trigger: ignored, flip rate 0.12 ± 0.02; negation: no "
                            "sentences, flip rate n/a): no model learned a planted word well enough; out.json was "
                            "not written (train on more data: drop --set data.max_train, or lower --threshold)")
    check_scored({"rows": {**rows, "x": {"status": "scored", "flip_rate": {"mean": 0.9}}}, "methods": {}}, "o")


def test_the_studies_blame_a_set_value_on_the_option_and_name_themselves():
    from textdeconv.evaluation.retrain import study_config

    with pytest.raises(ConfigError) as e:
        study_config("tiny.yaml", ["data.dataset=sst5"], study="roar")
    assert str(e.value) == ("--set data.dataset: the roar study's models use SST-2 sentences; data.dataset is "
                            "'sst5' (set data.dataset=sst2)")
    # provenance: a study's recorded config names what its models are trained on (issue 35)
    assert study_config("tiny.yaml", ["data.train_on=phrases"]).data.train_on == "sentences"


@pytest.mark.parametrize("command", ["groundtruth", "roar", "randomization"])
def test_a_runs_dir_that_is_a_file_is_one_line(tmp_path, monkeypatch, capsys, command):
    from helpers.guard import one_error_line

    from textdeconv.cli import main

    (tmp_path / "f").write_text("mine")
    with pytest.raises(SystemExit) as stop:
        main([command, "--config", "tiny.yaml", "--runs-dir", str(tmp_path / "f"), "--out", str(tmp_path / "o.json")])
    one_error_line(stop.value.code, capsys.readouterr().err, f"--runs-dir {tmp_path / 'f'} is a file; the study "
                                                             "keeps its models in a folder")
    assert (tmp_path / "f").read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_download_into_a_file_or_failing_leaves_dir_as_it_was(tmp_path):
    from textdeconv.data.download import download_sst
    from textdeconv.errors import DownloadError, MissingFileError

    (tmp_path / "f").write_text("mine")
    with pytest.raises(MissingFileError, match=rf"^{tmp_path / 'f'} is a file; the data folder must be a folder"):
        download_sst(tmp_path / "f", url=(tmp_path / "none.zip").as_uri(), quiet=True)
    with pytest.raises(DownloadError, match="could not download"):
        download_sst(tmp_path / "new" / "sst", url=(tmp_path / "none.zip").as_uri(), quiet=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]  # neither new/ nor new/sst/ left behind
    (tmp_path / "mine").mkdir()
    with pytest.raises(DownloadError):
        download_sst(tmp_path / "mine", url=(tmp_path / "none.zip").as_uri(), quiet=True)
    assert (tmp_path / "mine").is_dir() and not any((tmp_path / "mine").iterdir())  # a folder that was there stays


def test_a_test_file_that_is_the_train_file_is_warned(tmp_path, capsys):
    from textdeconv.config import DataConfig
    from textdeconv.data.splits import check_data

    path = tmp_path / "d.csv"
    path.write_text("text,label\ngood film,pos\nbad film,neg\n")
    (tmp_path / "link.csv").symlink_to(path)
    told = []
    check_data(DataConfig(dataset="custom", train=str(path), test=str(tmp_path / "link.csv")), told.append)
    assert told == [f"data.test is data.train ({tmp_path / 'link.csv'}): the test scores measure how well the "
                    "model remembers its train sentences, not how it generalises"]
    check_data(DataConfig(dataset="custom", train=str(path), dev=str(path)))
    assert capsys.readouterr().err == (f"warning: data.dev is data.train ({path}): the dev scores measure how well "
                                       "the model remembers its train sentences, not how it generalises\n")
    other = tmp_path / "e.csv"
    other.write_text(path.read_text())  # equal bytes, another file: the user's choice, not warned
    check_data(DataConfig(dataset="custom", train=str(path), test=str(other)), told.append)
    assert len(told) == 1


def test_evaluate_model_takes_the_baselines_its_help_promises(tmp_path, capsys):
    from textdeconv.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["evaluate", "--model", "m.keras", "--vocab", "v.txt", "--data", "x.csv", "--methods", "random"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.strip().endswith(
        "--model scores occlusion and random with every evaluation, against an engine method's explanations: name "
        "one of deconvnet, guided-backprop, gradient, grad-x-input, lrp-epsilon, lrp-alpha-beta, lrp-zplus too")
    with pytest.raises(SystemExit) as stop:  # accepted: it fails later, on the missing model file
        main(["evaluate", "--model", str(tmp_path / "m.keras"), "--vocab", "v.txt", "--data", "x.csv", "--methods",
              "gradient", "random", "--out", str(tmp_path / "ev")])
    assert stop.value.code == 2 and "evaluates the engine's methods" not in capsys.readouterr().err


def test_a_model_file_that_is_no_zip_is_named_so(tmp_path):
    pytest.importorskip("keras")
    from textdeconv.attribution.engine import load_model_for_explaining
    from textdeconv.errors import InputError

    path = tmp_path / "m.keras"
    path.write_text("not a model")
    with pytest.raises(InputError) as e:
        load_model_for_explaining(path)
    assert str(e.value) == f"{path}: cannot load the model (not a zip archive, which a .keras file is)"
