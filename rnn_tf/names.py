"""Every name a user can pick, in one light module (no TensorFlow, no Keras): argparse's choices, the
configs' checks and the model factories all read these lists, so they cannot drift apart.

The factories' registries (``models.cells.CELLS``, ...) are keyed by the same names; a test checks it.
"""

CELLS = ("lstm", "gru", "simple_rnn", "irnn", "peephole_lstm", "cifg_lstm", "nfg_lstm")  # models.cells
# the cells an encoder-decoder can use
SEQ2SEQ_CELLS = ("gru", "lstm", "simple_rnn", "peephole_lstm", "cifg_lstm", "nfg_lstm")
STRATEGIES = ("none", "mirrored", "multi-worker")  # tf.distribute: see distribute.py
IMPLEMENTATIONS = ("fast", "keras")  # how LSTM/GRU layers run (models.fast_rnn); the same model either way
LEVELS = ("char", "word", "subword")  # what a token is (subword: SentencePiece pieces, rnn_tf.subword)
TRANSLATE_LEVELS = LEVELS[1:]  # a translator's tokens: words or subword pieces
CLASSIFIER_MODELS = ("rnn", "cnn", "bow")
POOLINGS = ("last", "mean", "max", "attention")  # how a classifier summarises a sequence
BOW_HEADS = ("logistic", "mlp")
BOW_WEIGHTINGS = ("tfidf", "count", "binary")
ATTENTIONS = ("bahdanau", "luong-dot", "luong-general", "none")
SPLITS = ("train", "val", "test")  # the held-out splits of a run, as split.json names them
TUNERS = ("random", "hyperband", "bayesian")
TAGGER_MODELS = ("rnn", "perceptron", "most-frequent")  # a recurrent tagger and its two baselines
EMBEDDING_INITS = ("uniform", "normal")  # Keras's U(-0.05, 0.05), or N(0, 1) as PyTorch draws them
CONDITION_MODES = ("input", "state")  # how a conditioned language model receives its label
LR_SCHEDULES = ("constant", "linear", "cosine")  # textgen --lr-schedule
