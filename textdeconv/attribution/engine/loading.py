"""Load someone else's saved Keras text model and its vocabulary for explaining (the command
line's ``textdeconv explain --model model.keras --vocab vocab.txt``), checking both up front."""
from __future__ import annotations

from pathlib import Path

from textdeconv.attribution.engine.vocabulary import read_vocabulary
from textdeconv.errors import InputError, MissingFileError

MODEL_SUFFIXES = (".keras", ".h5")


def load_model_for_explaining(model_path, vocab_path=None) -> tuple:
    """(keras model, vocabulary tokens) for the engine, or a one-line user error.

    Args:
        model_path: a ``.keras`` (or legacy ``.h5``) file, loaded with ``safe_mode=True`` (a saved
            Lambda is refused, never executed); textdeconv's own layers are registered first.
        vocab_path: one token per line, line N = id N (id 0 padding, id 1 unknown); may be None
            when the model starts with a TextVectorization, whose vocabulary is used.
    Raises:
        MissingFileError: a file does not exist. InputError (``UnsupportedModelError`` among
        them): the model cannot be loaded, holds a layer the engine has no rule for, or does not
        fit the vocabulary.
    """
    path = Path(model_path)
    if not path.exists():
        raise MissingFileError(f"model file not found: {path}")
    if path.is_dir() or path.suffix not in MODEL_SUFFIXES:
        raise InputError(f"{path}: expected a Keras model file ({' or '.join(MODEL_SUFFIXES)}, saved with "
                         "model.save); a TensorFlow SavedModel folder cannot be explained layer by layer")
    import zipfile

    import keras

    import textdeconv.model.textcnn  # noqa: F401  registers ZeroPadEmbedding and WindowMask for loading
    from textdeconv.attribution.engine.graph import build_graph
    from textdeconv.runtime import keras_error

    if path.suffix == ".keras" and not zipfile.is_zipfile(path):  # Keras would say "File not found" of it
        raise InputError(f"{path}: cannot load the model (not a zip archive, which a .keras file is)")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises ValueError, TypeError, OSError... for a bad file
        raise InputError(f"{path}: cannot load the model ({keras_error(e)})") from None
    graph = build_graph(model)
    if vocab_path is not None:
        tokens = read_vocabulary(vocab_path)
    elif graph.vectorizer is not None:
        tokens = read_vocabulary(graph.vectorizer)
    else:
        raise InputError(f"{path}: the model has no TextVectorization layer; give its vocabulary file "
                         "(--vocab vocab.txt, one token per line, line N = id N)")
    rows = min(int(s.layer.input_dim) for s in graph.embeddings)
    if len(tokens) > rows:
        raise InputError(f"{vocab_path or path}: {len(tokens)} tokens but the model's embedding has only {rows} rows; "
                         "is it the model's own vocabulary?")
    return model, tokens
