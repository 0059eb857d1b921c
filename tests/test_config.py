"""Config: defaults, shipped YAML files, --set overrides, error messages, round trip, CLI errors."""
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from textdeconv.config import (
    Config,
    ConfigError,
    DataConfig,
    ModelConfig,
    TrainConfig,
    VocabConfig,
    config_from_dict,
    load_config,
    parse_override,
    resolve_config_path,
    save_config,
)

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path, text, name="c.yaml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# --------------------------------------------------------------------------------------------
# Defaults and shipped configs


def test_defaults_are_kims_cnn_rand():
    cfg = load_config()
    assert cfg == Config()
    assert cfg.data == DataConfig(dataset="sst2", dir=None, train_on="phrases", download=True,
                                  max_train=None, max_eval=None)
    assert cfg.vocab == VocabConfig(lowercase=True, min_count=1)
    assert cfg.model == ModelConfig(variant="rand", embedding_dim=300, filter_sizes=(3, 4, 5), num_filters=100,
                                    dropout=0.5, max_norm=3.0, init_scale=0.25, vectors=None)
    assert cfg.train == TrainConfig(epochs=25, batch_size=50, optimizer="adadelta", learning_rate=1.0, rho=0.95,
                                    epsilon=1e-6, patience=5, seed=0, jit_compile=False, tensorboard=True)


def test_shipped_sst_yaml_by_bare_name_is_the_defaults_with_kim_cleaning(tmp_path, monkeypatch):
    repo_configs = Path(__file__).resolve().parent.parent / "configs"
    assert resolve_config_path("sst.yaml") == Path("configs") / "sst.yaml"  # the repository's, from its root
    monkeypatch.chdir(tmp_path)  # elsewhere: the copy that ships with the package, the same file
    shipped = resolve_config_path("sst.yaml")
    assert shipped.read_bytes() == (repo_configs / "sst.yaml").read_bytes()
    (tmp_path / "configs").mkdir()  # a user's ./configs/sst.yaml wins over the shipped one
    (tmp_path / "configs" / "sst.yaml").write_text("train: {epochs: 2}\n")
    assert resolve_config_path("sst") == Path("configs") / "sst.yaml"
    monkeypatch.chdir(repo_configs.parent)
    assert load_config("sst.yaml") == Config(vocab=VocabConfig(clean="kim"))


def test_shipped_sst5_yaml_differs_from_defaults_only_in_dataset():
    assert load_config("sst5.yaml") == Config(data=DataConfig(dataset="sst5"))


def test_shipped_tiny_yaml_values_and_name_without_suffix():
    cfg = load_config("tiny.yaml")
    assert cfg == load_config("tiny")  # ".yaml" may be left out
    assert cfg.data == DataConfig(dataset="sst2", train_on="phrases", max_train=3000, max_eval=200)
    assert cfg.model == ModelConfig(variant="rand", embedding_dim=16, filter_sizes=(3, 4, 5), num_filters=8)
    assert cfg.train == TrainConfig(epochs=2, batch_size=50, optimizer="adam", learning_rate=0.005,
                                    epsilon=1e-7, patience=0, tensorboard=False)
    assert cfg.vocab == VocabConfig()


def test_a_path_that_exists_wins_over_configs_dir(tmp_path, monkeypatch):
    write(tmp_path, "train:\n  epochs: 7\n", name="tiny.yaml")
    monkeypatch.chdir(tmp_path)
    assert load_config("tiny.yaml").train.epochs == 7
    assert load_config(tmp_path / "tiny.yaml").train.epochs == 7


# --------------------------------------------------------------------------------------------
# Overrides


def test_overrides_with_types():
    cfg = load_config("tiny.yaml", [
        "train.epochs=3",              # int
        "model.dropout=0",             # float given as an int -> 0.0
        "train.learning_rate=2",
        "train.tensorboard=true",      # bool
        "model.filter_sizes=[2, 6]",   # list -> tuple
        "model.max_norm=null",         # optional -> None
        "data.max_eval=~",
        "data.dir=/some/where",
        "data.dataset=sst5",
    ])
    assert cfg.train.epochs == 3
    assert cfg.model.dropout == 0.0 and type(cfg.model.dropout) is float
    assert cfg.train.learning_rate == 2.0 and type(cfg.train.learning_rate) is float
    assert cfg.train.tensorboard is True
    assert cfg.model.filter_sizes == (2, 6)
    assert cfg.model.max_norm is None
    assert cfg.data.max_eval is None
    assert cfg.data.dir == "/some/where"
    assert cfg.data.dataset == "sst5"
    assert cfg.data.max_train == 3000  # untouched keys keep the file's value


def test_single_filter_size_becomes_a_tuple():
    assert load_config(None, ["model.filter_sizes=4"]).model.filter_sizes == (4,)


def test_empty_override_value_is_null():
    assert load_config(None, ["data.max_train="]).data.max_train is None


def test_override_pairs_are_accepted():
    assert config_from_dict({}, [("train.seed", 9)]).train.seed == 9


def test_parse_override():
    assert parse_override("train.epochs=3") == ("train.epochs", 3)
    assert parse_override(" data.dir = a=b") == ("data.dir", "a=b")
    assert parse_override("model.filter_sizes=[3,4]") == ("model.filter_sizes", [3, 4])
    assert parse_override("data.dir=[oops") == ("data.dir", "[oops")  # not YAML: kept as text
    with pytest.raises(ConfigError, match=r"--set 'train\.epochs': expected KEY=VALUE, e\.g\. train\.epochs=3"):
        parse_override("train.epochs")


def test_unknown_override_key_suggests_the_right_one():
    with pytest.raises(ConfigError) as e:
        load_config("tiny.yaml", ["model.filtr_sizes=3"])
    assert str(e.value) == ("--set model.filtr_sizes: unknown key 'model.filtr_sizes' "
                            "— did you mean 'model.filter_sizes'?")


def test_unknown_key_in_yaml_file_suggests_the_right_one(tmp_path):
    p = write(tmp_path, "model:\n  filtr_sizes: [3, 4]\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == f"{p}: unknown key 'model.filtr_sizes' — did you mean 'model.filter_sizes'?"


def test_unknown_key_without_close_match_lists_known_keys(tmp_path):
    p = write(tmp_path, "zzzzzz: 1\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}: unknown key 'zzzzzz' (known keys: data.dataset, data.dir, ")
    assert "model.filter_sizes" in msg and msg.endswith("train.mixed_precision)")


@pytest.mark.parametrize("override, message", [
    ("train.epochs=3.5", "config: 'train.epochs' must be an integer, got 3.5"),
    ("train.epochs=true", "config: 'train.epochs' must be an integer, got True"),
    ("train.epochs=abc", "config: 'train.epochs' must be an integer, got 'abc'"),
    ("model.dropout=high", "config: 'model.dropout' must be a number, got 'high'"),
    ("train.tensorboard=1", "config: 'train.tensorboard' must be true or false, got 1"),
    ("data.dir=3", "config: 'data.dir' must be a string, got 3"),
    ("model.filter_sizes=[]", "config: 'model.filter_sizes' must be a non-empty list, got []"),
    ("model.filter_sizes=[3, x]", "config: 'model.filter_sizes' must be an integer, got 'x'"),
    ("model.variant=foo", "config: 'model.variant' must be one of rand, static, non-static, multichannel, got 'foo'"),
    ("data.dataset=imdb", "config: 'data.dataset' must be one of sst2, sst5, custom, got 'imdb'"),
    ("train.optimizer=sgd", "config: 'train.optimizer' must be one of adadelta, adam, got 'sgd'"),
    ("train.epochs=0", "config: 'train.epochs' must be at least 1, got 0"),
    ("train.bucket_chunk=0", "config: 'train.bucket_chunk' must be at least 1, got 0"),
    ("train.evals_per_epoch=0", "config: 'train.evals_per_epoch' must be at least 1, got 0"),
    ("model.filter_sizes=[3, 0]", "config: 'model.filter_sizes' must be positive, got [3, 0]"),
    ("model.dropout=1", "config: 'model.dropout' must be in [0, 1), got 1.0"),
    ("vocab.clean=nltk", "config: 'vocab.clean' must be one of kim, got 'nltk'"),
])
def test_bad_values_are_refused_with_exact_messages(override, message):
    with pytest.raises(ConfigError) as e:
        load_config(None, [override])
    assert str(e.value) == message


@pytest.mark.parametrize("data, got", [("data.train_on=sentences", "sst2, data.train_on=sentences"),
                                       ("data.dataset=custom", "custom, data.train_on=phrases")])
def test_prior_correction_needs_sst_phrase_training(data, got):
    extra = ["data.train=x.csv"] if "custom" in data else []
    with pytest.raises(ConfigError) as e:
        load_config(None, ["train.prior_correction=true", data, *extra])
    assert str(e.value) == ("config: 'train.prior_correction' corrects for training on SST phrases; it needs "
                            f"data.train_on=phrases and an SST data set (got data.dataset={got})")
    assert load_config(None, ["train.prior_correction=true"]).train.prior_correction


def test_wrong_type_in_file_names_the_file(tmp_path):
    p = write(tmp_path, "train:\n  batch_size: fifty\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == f"{p}: 'train.batch_size' must be an integer, got 'fifty'"


def test_section_that_is_not_a_mapping(tmp_path):
    p = write(tmp_path, "train: 5\n")
    with pytest.raises(ConfigError, match=r"section 'train' must be a mapping"):
        load_config(p)
    # an override into that section must not silently replace it
    with pytest.raises(ConfigError, match=r"section 'train' must be a mapping"):
        load_config(p, ["train.epochs=3"])


def test_top_level_that_is_not_a_mapping(tmp_path):
    p = write(tmp_path, "- a\n- b\n")
    for overrides in ([], ["train.epochs=3"]):
        with pytest.raises(ConfigError) as e:
            load_config(p, overrides)
        assert str(e.value) == f"{p}: section 'top level' must be a mapping"


def test_empty_file_and_empty_section_give_defaults(tmp_path):
    assert load_config(write(tmp_path, "")) == Config()
    assert load_config(write(tmp_path, "model:\n", name="d.yaml")) == Config()


def test_invalid_yaml_names_the_line(tmp_path):
    p = write(tmp_path, "data:\n  dataset: sst2\n  train_on: [phrases\nmodel:\n  variant: rand\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value).startswith(f"{p}: line 4 is not valid YAML (")


def test_missing_file_lists_shipped_configs():
    with pytest.raises(FileNotFoundError) as e:
        load_config("does_not_exist.yaml")
    msg = str(e.value)
    assert msg.startswith("config file not found: does_not_exist.yaml")
    assert msg.endswith("shipped configs: sst-multichannel.yaml, sst-nonstatic.yaml, sst-static.yaml, sst.yaml, "
                        "sst5.yaml, tiny.yaml)")


# --------------------------------------------------------------------------------------------
# Save / load, immutability


def test_save_load_round_trip(tmp_path):
    cfg = load_config("tiny.yaml", ["model.filter_sizes=[2]", "model.max_norm=null", "data.dir=x/y",
                                    "train.epsilon=0.001"])
    path = tmp_path / "run" / "config.yaml"
    save_config(cfg, path)
    assert load_config(path) == cfg
    text = path.read_text(encoding="utf-8")
    assert text.startswith("data:\n  dataset: sst2\n")
    assert "filter_sizes:\n  - 2\n" in text  # plain YAML lists, no Python tuple tags
    assert "!!python" not in text


def test_to_dict_is_plain():
    d = Config().to_dict()
    assert d["model"]["filter_sizes"] == [3, 4, 5]
    assert set(d) == {"data", "vocab", "model", "train"}


def test_config_is_frozen():
    cfg = load_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.epochs = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.model = ModelConfig()
    changed = cfg.replace(train=dataclasses.replace(cfg.train, epochs=1))
    assert changed.train.epochs == 1 and cfg.train.epochs == 25


# --------------------------------------------------------------------------------------------
# scripts/train.py: config errors are one line, before TensorFlow loads


def run_train(*args):
    return subprocess.run([sys.executable, "scripts/train.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in proc.stderr
    for f in fragments:
        assert f in lines[0]
    assert proc.stdout == ""


def test_train_script_unknown_key_is_one_line():
    proc = run_train("--config", "tiny.yaml", "--set", "model.filtr_sizes=3")
    assert_one_line_error(proc, "did you mean 'model.filter_sizes'", "--set model.filtr_sizes")


def test_train_script_missing_config_is_one_line():
    proc = run_train("--config", "does_not_exist.yaml")
    assert_one_line_error(proc, "config file not found: does_not_exist.yaml", "shipped configs: sst-multichannel.yaml")
