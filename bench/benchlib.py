"""What every benchmark records beside its figures: the machine it ran on and when."""
import os
import platform
from datetime import datetime, timezone


def machine(load_average=None, tensorflow: bool = True) -> dict:
    """Platform, CPU count, Python (and TensorFlow and its GPUs) versions, and the load average
    (1, 5, 15 min) at the start of the measurement, since timings need a quiet machine."""
    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "load_average_at_start": list(load_average or os.getloadavg())}
    if tensorflow:
        import tensorflow as tf

        info |= {"tensorflow": tf.__version__, "gpus": [d.name for d in tf.config.list_physical_devices("GPU")]}
    return info


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
