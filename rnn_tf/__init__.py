"""rnn_tf: train, resume, tune and use recurrent neural networks on text (Keras 3 / TensorFlow).

The data flows one way, and the modules are named after the steps:

    corpora -> vocab -> datasets -> models -> train (callbacks) -> runs -> sampling / evaluate

Importing the package does not import TensorFlow; the modules that need it do. It does set two
TensorFlow settings, because TensorFlow reads them once, when it starts, and they decide how fast
recurrent training runs on a CPU (``scripts/bench_rnn.py`` measures them). Each is only a default: a
value already in the environment wins.
"""

import os as _os

__version__ = "0.1.0"

TENSORFLOW_DEFAULTS = {
    # oneDNN kernels (and their pooling allocator) even on CPUs without AVX-512, where TensorFlow
    # leaves them off by default
    "TF_ENABLE_ONEDNN_OPTS": "1",
    # TensorFlow's BFC allocator for CPU memory: without it, XLA's large temporaries are mapped
    # afresh (and page-faulted) on every training step
    "TF_CPU_ALLOCATOR_USE_BFC": "true",
}
for _name, _value in TENSORFLOW_DEFAULTS.items():
    _os.environ.setdefault(_name, _value)
