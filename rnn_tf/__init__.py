"""rnn_tf: train, resume, tune and use recurrent neural networks on text (Keras 3 / TensorFlow).

The data flows one way, and the modules are named after the steps:

    corpora -> vocab -> datasets -> models -> train (callbacks) -> runs -> sampling / evaluate

Importing the package does not import TensorFlow; the modules that need it do.
"""

__version__ = "0.1.0"
