"""Search-space entries that several tasks' default spaces share (the language: ``search.space``)."""

RECURRENT_SPACE = {
    "cell": {"type": "choice", "values": ["simple_rnn", "lstm", "gru"]},
    "units": {"type": "int", "min": 64, "max": 512, "step": 64},
    "layers": {"type": "int", "min": 1, "max": 2},
    "embedding_dim": {"type": "choice", "values": [32, 64, 128]},
    "dropout": {"type": "float", "min": 0.0, "max": 0.5, "step": 0.1},
    "learning_rate": {"type": "float", "min": 1e-4, "max": 1e-2, "sampling": "log"},
    "clipnorm": {"type": "choice", "values": [0.0, 1.0, 5.0]},
}
