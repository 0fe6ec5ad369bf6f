"""A quiet start: TensorFlow without its start-up chatter on a machine without a GPU.

Importing TensorFlow and initialising its devices prints, on a CPU-only machine, lines that read like
failures (``Could not find cuda drivers on your machine``, ``E0000 ... failed call to cuInit: INTERNAL:
CUDA error``) and others that only inform (oneDNN is on, which CPU instructions the binary uses). Some
are written before TensorFlow's logging is set up, so ``TF_CPP_MIN_LOG_LEVEL`` cannot hide them.
``start_tensorflow`` therefore imports TensorFlow and lists its devices with the process's standard
error (file descriptor 2) pointed at a temporary file, then passes on every line that is not known
start-up noise: real warnings and errors still show. The CUDA lines count as noise only where the
machine has no NVIDIA device at all; on a machine with one, a failing cuInit is a real error and
is shown. ``rnn-tf --verbose`` (or ``RNN_TF_VERBOSE=1``) shows everything.
"""

from __future__ import annotations

import glob
import os
import re
import sys
import tempfile

_INFORMATIONAL = (  # TensorFlow telling what it is, on any machine
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"cpu_feature_guard\.cc.*This TensorFlow binary is optimized",
    r"^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags",
    r"port\.cc.*oneDNN custom operations are on",
)
_NO_GPU = (  # TensorFlow looking for a GPU on a machine that has none
    r"cudart_stub\.cc.*Could not find cuda drivers",
    r"cuda_platform\.cc.*failed call to cuInit",
    r"cuda_diagnostics\.cc",
    r"cuda_executor\.cc",
)


def has_nvidia_device() -> bool:
    return bool(glob.glob("/dev/nvidia[0-9]*"))


def is_noise(line: str, gpu_present: bool) -> bool:
    patterns = _INFORMATIONAL + (() if gpu_present else _NO_GPU)
    return not line.strip() or any(re.search(p, line) for p in patterns)


def start_tensorflow(verbose: bool = False) -> None:
    """Import TensorFlow and initialise its devices, showing only the lines that are not start-up noise
    (everything with ``verbose``). Later imports of TensorFlow are then free and silent."""
    if verbose or os.environ.get("RNN_TF_VERBOSE") or "tensorflow" in sys.modules:
        import tensorflow  # noqa: F401  (already imported, or everything is to be shown)

        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # C++ info off; warnings and errors stay
    sys.stderr.flush()
    with tempfile.TemporaryFile() as capture:
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # where TensorFlow looks for CUDA (and logs cuInit)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode("utf-8", errors="replace")
    gpu = has_nvidia_device()
    kept = [line for line in text.splitlines() if not is_noise(line, gpu)]
    if kept:
        print("\n".join(kept), file=sys.stderr, flush=True)
