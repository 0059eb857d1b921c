"""Bundle a finished run as a model shipped inside the package (``builtin:NAME``).

The bundle is the run's config, vocabulary and weights (no optimizer state, so a third of the
run's model.keras) plus ``card.json``: how it was trained and what it scored. ``bench/bundle_model.py``
is the command (docs/development.md, "The bundled model").
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from datetime import date
from pathlib import Path

from textdeconv.errors import InputError

MAX_BYTES = 5 * 2**20  # the whole bundle: the wheel carries it to every user


def bundle_run(run_dir: str | Path, dest: str | Path, command: str, replace: bool = False) -> dict:
    """Write ``run_dir``'s bundle into the folder ``dest`` (e.g. textdeconv/builtin/sst2) and return its card.

    Raises:
        InputError: ``dest`` exists and ``replace`` is false, or the bundle would exceed ``MAX_BYTES``.
        MissingFileError / DataError: ``run_dir`` is not a finished, loadable run.
    """
    import keras

    from textdeconv.config import save_config
    from textdeconv.training.rundir import read_run

    run_dir, dest = Path(run_dir), Path(dest)
    if dest.exists() and not replace:
        raise InputError(f"{dest} exists; pass --replace to bundle over it")
    cfg, vocab, net, class_names = read_run(run_dir)  # loaded with compile=False: no optimizer state
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    # where the data lives is the user's business: the bundle finds SST as any run does (./data/sst,
    # $TEXTDECONV_DATA) and may download it for `evaluate`
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, dir=None, download=True))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    tmp.chmod(0o755)  # mkdtemp makes it 0700; the package folder must be readable by every user
    try:
        net.model.save(tmp / "model.keras")
        shutil.copyfile(run_dir / "vocab.txt", tmp / "vocab.txt")
        save_config(cfg, tmp / "config.yaml")
        card = {
            "name": f"builtin:{dest.name}",
            "what": f"{cfg.data.dataset}, CNN-{cfg.model.variant}, {cfg.model.embedding_dim}d, "
                    f"widths {list(cfg.model.filter_sizes)} x {cfg.model.num_filters}",
            "command": command,
            "seed": cfg.train.seed,
            "classes": list(class_names),
            "vocab_size": len(vocab),
            "parameters": int(net.model.count_params()),
            "best_epoch": metrics["best_epoch"],
            "dev_accuracy": metrics["dev"]["accuracy"],
            "test_accuracy": metrics["test"]["accuracy"],
            "dev_n": metrics["dev"]["n"],
            "test_n": metrics["test"]["n"],
            "keras": keras.__version__,
            "date": date.today().isoformat(),
        }
        (tmp / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        size = sum(p.stat().st_size for p in tmp.iterdir())
        if size > MAX_BYTES:
            raise InputError(f"the bundle would take {size / 2**20:.2f} MiB, over {MAX_BYTES / 2**20:.0f} MiB: "
                             "train a smaller model (model.embedding_dim, vocab.min_count)")
        card["bytes"] = size
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return card
