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


def test_shipped_sst_yaml_by_bare_name_is_the_defaults_with_kims_cleaning_and_init(tmp_path, monkeypatch):
    repo_configs = Path(__file__).resolve().parent.parent / "configs"
    assert resolve_config_path("sst.yaml") == Path("configs") / "sst.yaml"  # the repository's, from its root
    monkeypatch.chdir(tmp_path)  # elsewhere: the copy that ships with the package, the same file
    shipped = resolve_config_path("sst.yaml")
    assert shipped.read_bytes() == (repo_configs / "sst.yaml").read_bytes()
    (tmp_path / "configs").mkdir()  # a user's ./configs/sst.yaml wins over the shipped one
    (tmp_path / "configs" / "sst.yaml").write_text("train: {epochs: 2}\n")
    assert resolve_config_path("sst") == Path("configs") / "sst.yaml"
    monkeypatch.chdir(repo_configs.parent)
    assert load_config("sst.yaml") == Config(vocab=VocabConfig(clean="kim"),
                                             model=ModelConfig(init="kim", output_weights="kim"))


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
    ("train.epochs=3.5", "'train.epochs' must be an integer, got 3.5"),
    ("train.epochs=true", "'train.epochs' must be an integer, got True"),
    ("train.epochs=abc", "'train.epochs' must be an integer, got 'abc'"),
    ("model.dropout=high", "'model.dropout' must be a number, got 'high'"),
    ("train.tensorboard=1", "'train.tensorboard' must be true or false, got 1"),
    ("data.dir=3", "'data.dir' must be a string or null, got 3"),
    ("data.max_train=abc", "'data.max_train' must be an integer or null, got 'abc'"),
    ("model.max_norm=abc", "'model.max_norm' must be a number or null, got 'abc'"),
    ("model.filter_sizes=[]", "'model.filter_sizes' must be a non-empty list, got []"),
    ("model.filter_sizes=[3, x]", "'model.filter_sizes' must be an integer, got 'x'"),
    ("model.variant=foo", "'model.variant' must be one of rand, static, non-static, multichannel, got 'foo'"),
    ("data.dataset=imdb", "'data.dataset' must be one of sst2, sst5, custom, got 'imdb'"),
    ("train.optimizer=sgd", "'train.optimizer' must be one of adadelta, adam, got 'sgd'"),
    ("vocab.clean=foo", "'vocab.clean' must be one of kim or null, got 'foo'"),  # null is allowed: say so
    ("model.vectors_format=bin", "'model.vectors_format' must be one of glove, word2vec-text, fasttext, "
                                 "word2vec-bin or null, got 'bin'"),
    ("train.learning_rate=.inf", "'train.learning_rate' must be a finite number, got inf"),
    ("train.learning_rate=.nan", "'train.learning_rate' must be a finite number, got nan"),
    ("model.max_norm=.inf", "'model.max_norm' must be a finite number or null, got inf"),
])
def test_bad_types_are_refused_with_exact_messages(override, message):
    with pytest.raises(ConfigError) as e:
        load_config(None, [override])
    assert str(e.value) == f"--set {override.split('=')[0]}: {message}"


@pytest.mark.parametrize("override, message", [
    ("train.learning_rate=-1", "'train.learning_rate' must be a positive number, got -1.0"),
    ("train.learning_rate=0", "'train.learning_rate' must be a positive number, got 0.0"),
    ("train.epsilon=0", "'train.epsilon' must be a positive number, got 0.0"),
    ("train.rho=1", "'train.rho' must be in (0, 1), got 1.0"),
    ("train.rho=0", "'train.rho' must be in (0, 1), got 0.0"),
    ("train.epochs=0", "'train.epochs' must be at least 1, got 0"),
    ("train.batch_size=0", "'train.batch_size' must be between 1 and 65536, got 0"),
    ("train.batch_size=1099511627776", "'train.batch_size' must be between 1 and 65536, got 1099511627776"),
    ("train.bucket_chunk=0", "'train.bucket_chunk' must be at least 1, got 0"),
    ("train.evals_per_epoch=0", "'train.evals_per_epoch' must be between 1 and 1000, got 0"),
    ("train.patience=-1", "'train.patience' must be at least 0, got -1"),
    ("train.seed=-1", "'train.seed' must be between 0 and 2147483647, got -1"),
    ("train.seed=4294967296", "'train.seed' must be between 0 and 2147483647, got 4294967296"),
    ("model.embedding_dim=0", "'model.embedding_dim' must be between 1 and 4096, got 0"),
    ("model.embedding_dim=1099511627776", "'model.embedding_dim' must be between 1 and 4096, got 1099511627776"),
    ("model.num_filters=0", "'model.num_filters' must be between 1 and 10000, got 0"),
    ("model.num_filters=10001", "'model.num_filters' must be between 1 and 10000, got 10001"),
    ("model.filter_sizes=[3, 0]", "'model.filter_sizes' must each be between 1 and 100, got [3, 0]"),
    ("model.dropout=1", "'model.dropout' must be in [0, 1), got 1.0"),
    ("model.dropout=-0.1", "'model.dropout' must be in [0, 1), got -0.1"),
    ("model.max_norm=0", "'model.max_norm' must be a positive number or null (no cap), got 0.0"),
    ("model.init_scale=-0.25", "'model.init_scale' must be a positive number, got -0.25"),
    ("model.vectors_std=-1", "'model.vectors_std' must be a positive number or null (vectors as read), got -1.0"),
    ("vocab.min_count=0", "'vocab.min_count' must be at least 1, got 0"),
    ("data.max_train=0", "'data.max_train' must be at least 1 or null (no limit), got 0"),  # 0 meant "no limit"
    ("data.max_eval=0", "'data.max_eval' must be at least 1 or null (no limit), got 0"),
    ("data.max_train=-5", "'data.max_train' must be at least 1 or null (no limit), got -5"),
    ("data.dev_fraction=0", "'data.dev_fraction' must be in (0, 1), got 0.0"),
    ("data.cv_folds=1", "'data.cv_folds' must be at least 2 or null (no cross-validation), got 1"),
    ("data.fold=0", "'data.fold' must be at least 1 or null (cross-validation sets it per fold), got 0"),
    ("data.seed=-1", "'data.seed' must be between 0 and 2147483647, got -1"),
])
def test_numbers_out_of_range_are_refused_with_exact_messages(override, message):
    with pytest.raises(ConfigError) as e:
        load_config(None, [override])
    assert str(e.value) == f"--set {override.split('=')[0]}: {message}"


def test_every_numeric_key_has_a_range():
    import typing

    from textdeconv.config import RANGES, _all_keys, _hints

    def numeric(hint):
        return hint in (int, float) or any(numeric(a) for a in typing.get_args(hint))

    keys = [k for k in _all_keys() if numeric(_hints(_hints(Config)[k.split(".")[0]])[k.split(".")[1]])]
    assert {"model.filter_sizes", "train.learning_rate", "data.max_train", "model.max_norm"} <= set(keys)
    assert sorted(set(keys) - set(RANGES)) == []  # a new numeric key needs its range


def test_range_edges_are_accepted():
    cfg = load_config(None, ["train.patience=0", "model.dropout=0", "train.rho=0.5", "data.max_train=1",
                             "train.epsilon=1e-8", "model.max_norm=null", "train.seed=2147483647"])
    assert (cfg.train.patience, cfg.model.dropout, cfg.data.max_train, cfg.model.max_norm) == (0, 0.0, 1, None)
    assert cfg.train.epsilon == 1e-8  # YAML 1.1 reads 1e-8 (no dot) as a string; a float key takes it


def test_a_bad_value_in_the_file_is_blamed_on_the_file(tmp_path):
    p = write(tmp_path, "train:\n  learning_rate: -1\n")
    for overrides in ([], ["train.epochs=3"]):
        with pytest.raises(ConfigError) as e:
            load_config(p, overrides)
        assert str(e.value) == f"{p}: 'train.learning_rate' must be a positive number, got -1.0"


def test_a_bad_override_is_blamed_on_the_override_not_the_file(tmp_path):
    p = write(tmp_path, "train:\n  epochs: 3\n")
    with pytest.raises(ConfigError) as e:
        load_config(p, ["train.epochs=abc"])
    assert str(e.value) == "--set train.epochs: 'train.epochs' must be an integer, got 'abc'"
    with pytest.raises(ConfigError) as e:
        config_from_dict({"train": {"epochs": 3}}, [("train.seed", -1)], where=str(p))
    assert str(e.value) == "--set train.seed: 'train.seed' must be between 0 and 2147483647, got -1"


def test_an_override_triple_names_the_option_it_came_from(tmp_path):
    p = write(tmp_path, "data:\n  dataset: custom\n  train: t.csv\n")
    with pytest.raises(ConfigError) as e:
        load_config(p, [("data.cv_folds", 1, "--cv")])
    assert str(e.value) == "--cv: 'data.cv_folds' must be at least 2 or null (no cross-validation), got 1"
    assert load_config(p, [("data.cv_folds", 10, "--cv")]).data.cv_folds == 10
    with pytest.raises(ConfigError) as e:
        load_config(p, [("data.cv_folds", 3, "--cv"), ("data.fold", 4, "--fold")])
    assert str(e.value) == "--fold and --cv: 'data.fold' must be between 1 and 3, got 4"


def test_keys_that_clash_blame_every_source_that_gave_one(tmp_path):
    p = write(tmp_path, "data:\n  dataset: custom\n  train: t.csv\n  test: u.csv\n")
    with pytest.raises(ConfigError) as e:
        load_config(p, [("data.cv_folds", 10, "--cv")])
    assert str(e.value) == (f"--cv and {p}: data.cv_folds tests on each fold of data.train in turn; "
                            "drop data.test (or data.cv_folds)")
    with pytest.raises(ConfigError) as e:  # a key left at its default is nobody's doing
        load_config(None, ["data.dataset=custom"])
    assert str(e.value).startswith("--set data.dataset: data.dataset=custom needs data.train")


@pytest.mark.parametrize("override, origin, example", [
    ("train=3", "--set train", "train.epochs"),
    ("data=custom", "--set data", "data.dataset"),
    (("model", 1, "--model"), "--model", "model.variant"),
])
def test_a_section_given_a_value_says_it_is_a_section(override, origin, example):
    with pytest.raises(ConfigError) as e:
        load_config("tiny.yaml", [override])
    section = example.split(".")[0]
    assert str(e.value) == f"{origin}: {section} is a section; set a key under it, e.g. {example}"  # not 'train.rho'


@pytest.mark.parametrize("data, got", [("data.train_on=sentences", "sst2, data.train_on=sentences"),
                                       ("data.dataset=custom", "custom, data.train_on=phrases")])
def test_prior_correction_needs_sst_phrase_training(data, got):
    extra = ["data.train=x.csv"] if "custom" in data else []
    with pytest.raises(ConfigError) as e:
        load_config(None, ["train.prior_correction=true", data, *extra])
    assert str(e.value) == (f"--set train.prior_correction and --set {data.split('=')[0]}: "
                            "'train.prior_correction' corrects for training on SST phrases; it needs "
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
    for falsy in ("0", "false", "''", "[]"):  # not read as an empty section
        with pytest.raises(ConfigError) as e:
            load_config(write(tmp_path, f"train: {falsy}\n", name="f.yaml"))
        assert str(e.value) == f"{tmp_path / 'f.yaml'}: section 'train' must be a mapping"
    # an override into that section must not silently replace it
    with pytest.raises(ConfigError, match=r"section 'train' must be a mapping"):
        load_config(p, ["train.epochs=3"])


def test_top_level_that_is_not_a_mapping(tmp_path):
    p = write(tmp_path, "- a\n- b\n")
    for overrides in ([], ["train.epochs=3"]):
        with pytest.raises(ConfigError) as e:
            load_config(p, overrides)
        assert str(e.value) == f"{p}: section 'top level' must be a mapping"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_an_empty_file_is_refused_and_says_what_to_put_in_it(tmp_path, text):
    p = write(tmp_path, text)
    for overrides in ([], ["train.epochs=3"]):
        with pytest.raises(ConfigError) as e:
            load_config(p, overrides)
        assert str(e.value) == (f"{p}: the config file is empty; put in it the keys to change from the defaults, "
                                "e.g. 'train: {epochs: 10}' (one section per line), or start from a shipped config "
                                "such as sst.yaml")


def test_an_empty_mapping_or_section_gives_defaults(tmp_path):
    assert load_config(write(tmp_path, "{}\n")) == Config()
    assert load_config(write(tmp_path, "model:\n", name="d.yaml")) == Config()


def test_a_dotted_key_in_a_file_says_to_nest_it(tmp_path):
    p = write(tmp_path, "model.filter_sizes: [3]\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == (f"{p}: 'model.filter_sizes' must be nested in a YAML file (model: then "
                            "'filter_sizes: ...' indented below it); dotted keys are for --set")


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_bytes(b"train:\n  epochs: 3 # caf\xe9\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == f"{p}: not UTF-8 text (byte 0xe9 at offset 24); a config is a YAML file"


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
    assert msg.endswith("shipped configs: builtin-sst2.yaml, sst-multichannel.yaml, sst-nonstatic.yaml, "
                        "sst-static.yaml, sst.yaml, sst5.yaml, tiny.yaml)")


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
    assert_one_line_error(proc, "config file not found: does_not_exist.yaml",
                          "shipped configs: builtin-sst2.yaml, sst-multichannel.yaml")
