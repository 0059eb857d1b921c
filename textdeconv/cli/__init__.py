"""What every script shares: quiet TensorFlow start-up and one-line errors with a non-zero exit."""
from __future__ import annotations

import contextlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter off stderr

# Errors a user can act on: shown as one line, never a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, ConnectionError, UnicodeDecodeError, OSError)


def require_positive(args, *names: str) -> None:
    """Raise a ValueError naming the option when an integer option ``args.<name>`` is below 1."""
    for name in names:
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence file descriptor 2 while TensorFlow loads and probes devices.

    TensorFlow's native code logs before absl is initialised ("All log messages before
    absl::InitializeLog() ...", CUDA driver probes on CPU machines); TF_CPP_MIN_LOG_LEVEL does
    not reach those lines, so they would bury the one-line errors this tool prints.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def load_tensorflow():
    """Import TensorFlow quietly and initialise its devices; return the module."""
    with quiet_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()
    tf.get_logger().setLevel("ERROR")  # no retracing chatter when methods are rebuilt per model (sanity checks)
    return tf


def run_main(main) -> None:
    """Call ``main()``; turn user errors into ``error: ...`` on stderr and exit code 2."""
    try:
        code = main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    except USER_ERRORS as e:
        if os.environ.get("TEXTDECONV_DEBUG"):
            raise  # the full traceback, for bug reports
        print(f"error: {e}", file=sys.stderr)
        code = 2
    sys.exit(code or 0)
