"""User mistakes from every stage raise the one ``UserError`` family (the command line prints them
as one line and exits 2), and each still derives from the built-in type Python code expects."""
import zipfile
from pathlib import Path

import pytest
from conftest import write_trees

from textdeconv.config import load_config, save_config
from textdeconv.errors import (
    ConfigError,
    DataError,
    DownloadError,
    InputError,
    MissingFileError,
    OutputError,
    UserError,
    VectorsNotFoundError,
)


def custom(train, *extra):
    return load_config(None, ["data.dataset=custom", f"data.train={train}", *extra]).data


def bad_config_key(tmp_path):
    load_config(None, ["model.filtr_sizes=3"])


def bad_config_value(tmp_path):
    load_config(None, ["train.learning_rate=-1"])


def bad_yaml(tmp_path):
    (tmp_path / "c.yaml").write_text("train: [epochs\n", encoding="utf-8")
    load_config(tmp_path / "c.yaml")


def empty_yaml(tmp_path):
    (tmp_path / "c.yaml").write_text("", encoding="utf-8")
    load_config(tmp_path / "c.yaml")


def missing_config(tmp_path):
    load_config(tmp_path / "nope.yaml")


def missing_data_file(tmp_path):
    from textdeconv.data.splits import load_splits

    load_splits(custom(tmp_path / "nope.csv"))


def missing_sst_offline(tmp_path):
    from textdeconv.data.splits import check_data

    check_data(load_config(None, [f"data.dir={tmp_path}", "data.download=false"]).data)


def malformed_tree_line(tmp_path):
    from textdeconv.data.treebank import read_trees

    root = write_trees(tmp_path, {"train": ["(3 (2 good) (3 fun)", "(2 x)"]})
    read_trees(root / "trees" / "train.txt")


def tree_file_not_utf8(tmp_path):
    from textdeconv.data.treebank import read_trees

    (tmp_path / "t.txt").write_bytes(b"(2 ok)\n(3 caf\xe9)\n")
    read_trees(tmp_path / "t.txt")


def mixed_labels(tmp_path):
    from textdeconv.data.splits import load_splits

    p = tmp_path / "t.csv"
    p.write_text("text,label\ngood,pos\nbad,neg\nfine,1\n", encoding="utf-8")
    load_splits(custom(p, f"data.dev={p}"))


def download_fails(tmp_path):
    from textdeconv.data.download import download_sst

    download_sst(tmp_path / "sst", url=(tmp_path / "missing.zip").as_uri(), quiet=True)


def unknown_target_class(tmp_path):
    from textdeconv.attribution.explanation import resolve_target

    resolve_target("neutral", ["negative", "positive"])


def string_instead_of_tokens(tmp_path):
    from textdeconv.attribution.explanation import Explainer
    from textdeconv.data.vocab import Vocab

    Explainer(None, Vocab(["<pad>", "<unk>", "fine"]), ["negative", "positive"]).explain("a fine film")


def unknown_vectors_file(tmp_path):
    from textdeconv.model.embeddings import read_vectors

    read_vectors(str(tmp_path / "vectors.txt"), lambda word: True)


def malformed_vectors_file(tmp_path):
    from textdeconv.model.embeddings import read_vectors

    (tmp_path / "v.txt").write_text("the 1 2 3\ngood 1 2\n", encoding="utf-8")
    read_vectors(str(tmp_path / "v.txt"), lambda word: True)


def missing_run_dir(tmp_path):
    from textdeconv.training.rundir import check_run_dir

    check_run_dir(tmp_path / "runs" / "nope")


def unfinished_run_dir(tmp_path):
    from textdeconv.training.rundir import check_run_dir

    check_run_dir(tmp_path)


def missing_vocabulary(tmp_path):
    from textdeconv.data.vocab import Vocab

    Vocab.load(tmp_path / "vocab.txt")


def stream_output_is_its_input(tmp_path):
    from textdeconv.reports.stream import ExplainJob

    (tmp_path / "in.txt").write_text("a fine film\n", encoding="utf-8")
    ExplainJob(tmp_path / "in.txt", tmp_path / "in.txt", {})


MISTAKES = [  # (what the user got wrong, the error class, the built-in type it still is)
    (bad_config_key, ConfigError, ValueError),
    (bad_config_value, ConfigError, ValueError),
    (bad_yaml, ConfigError, ValueError),
    (empty_yaml, ConfigError, ValueError),
    (missing_config, MissingFileError, FileNotFoundError),
    (missing_data_file, MissingFileError, FileNotFoundError),
    (missing_sst_offline, MissingFileError, FileNotFoundError),
    (malformed_tree_line, DataError, ValueError),
    (tree_file_not_utf8, DataError, ValueError),
    (mixed_labels, DataError, ValueError),
    (download_fails, DownloadError, ConnectionError),
    (unknown_target_class, InputError, ValueError),
    (string_instead_of_tokens, InputError, ValueError),
    (unknown_vectors_file, VectorsNotFoundError, FileNotFoundError),
    (malformed_vectors_file, DataError, ValueError),
    (missing_run_dir, MissingFileError, FileNotFoundError),
    (unfinished_run_dir, MissingFileError, FileNotFoundError),
    (missing_vocabulary, MissingFileError, FileNotFoundError),
    (stream_output_is_its_input, OutputError, FileExistsError),
]


@pytest.mark.parametrize("mistake, kind, builtin", MISTAKES, ids=[m.__name__ for m, _, _ in MISTAKES])
def test_a_user_mistake_is_a_user_error(tmp_path, mistake, kind, builtin):
    with pytest.raises(UserError) as e:
        mistake(tmp_path)
    assert type(e.value) is kind and isinstance(e.value, builtin)
    assert "\n" not in str(e.value)  # the command line prints it as one line


def fake_run(tmp_path: Path, model_bytes: bytes) -> Path:
    """A run directory whose config and vocabulary are fine and whose model.keras holds ``model_bytes``."""
    from textdeconv.data.vocab import Vocab

    run = tmp_path / "run"
    run.mkdir()
    save_config(load_config("tiny.yaml"), run / "config.yaml")
    Vocab(["<pad>", "<unk>", "good"]).save(run / "vocab.txt")
    (run / "model.keras").write_bytes(model_bytes)
    return run


def zip_bytes(tmp_path: Path, damaged: bool = False) -> bytes:
    """A zip holding metadata.json only, or (``damaged``) a config.json whose bytes fail the CRC."""
    with zipfile.ZipFile(tmp_path / "z.zip", "w") as z:
        z.writestr("config.json" if damaged else "metadata.json", '{"class_name": "Functional"}')
    data = (tmp_path / "z.zip").read_bytes()
    return data.replace(b'{"class_name"', b'{"klass_name"') if damaged else data


@pytest.mark.parametrize("content", ["garbage", "empty", "zip without a model", "damaged member"])
def test_a_corrupt_model_file_says_corrupt_not_file_not_found(tmp_path, content):
    from textdeconv.training.rundir import read_run

    data = {"garbage": b"not a keras file", "empty": b"", "zip without a model": zip_bytes(tmp_path),
            "damaged member": zip_bytes(tmp_path, damaged=True)}[content]
    run = fake_run(tmp_path, data)
    with pytest.raises(DataError) as e:
        read_run(run)
    message = str(e.value)
    assert message.startswith(f"{run / 'model.keras'} could not be loaded: the file is corrupt or was not written "
                              "by textdeconv")
    assert message.endswith("; train the run again, or restore the file")
    assert "not found" not in message.lower()  # Keras's own message for a damaged archive misleads
