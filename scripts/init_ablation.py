"""Held-out bits per character of the default text generator after N steps, with the language model's
initialisation and optimizer set to Keras's defaults or to rnn_tf's, one variant at a time.

    python scripts/init_ablation.py                      # 600 steps, the four variants
    python scripts/init_ablation.py --steps 1500 --variants rnn_tf --learning-rate 0.004

Variants: keras (embeddings U(-0.05, 0.05), RMSprop rho 0.9), rho (Keras's embeddings, rho 0.99),
embedding (N(0, 1) embeddings, rho 0.9), rnn_tf (both: the defaults). Same seed, same batches, same
held-out documents as ``rnn-tf textgen evaluate``; prints one JSON line per variant.
"""

from __future__ import annotations

import argparse
import json
import math
import time

VARIANTS = {  # name: (embeddings as Keras initialises them?, RMSprop rho)
    "keras": (True, 0.9),
    "rho": (True, 0.99),
    "embedding": (False, 0.9),
    "rnn_tf": (False, 0.99),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument("--learning-rate", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()

    import keras

    from rnn_tf.datasets import evaluation_dataset, language_model_dataset
    from rnn_tf.fitting import RMSprop
    from rnn_tf.tasks.textgen import TextgenConfig
    from rnn_tf.textgen import _summed_loss, build_model, prepare_textgen_data

    cfg = TextgenConfig(seed=args.seed, learning_rate=args.learning_rate).validate()
    data = prepare_textgen_data(cfg)
    for name in args.variants:
        keras_embeddings, rho = VARIANTS[name]
        keras.utils.set_random_seed(cfg.seed)
        model = build_model(cfg, len(data.vocab), args.steps).training
        if keras_embeddings:  # what keras.layers.Embedding draws by default
            table = model.get_layer("embedding").embeddings
            table.assign(keras.initializers.RandomUniform(-0.05, 0.05, seed=cfg.seed)(table.shape))
        model.compile(optimizer=RMSprop(learning_rate=cfg.learning_rate, rho=rho, global_clipnorm=cfg.clipnorm),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=model.jit_compile)
        started = time.perf_counter()
        model.fit(language_model_dataset(data.train_ids, cfg.seq_len, cfg.batch_size, seed=cfg.seed),
                  steps_per_epoch=args.steps, epochs=1, verbose=0)
        seconds = time.perf_counter() - started
        total, count, _ = _summed_loss(model, evaluation_dataset(data.val_ids, cfg.seq_len, 64))
        print(json.dumps({"variant": name, "steps": args.steps, "learning_rate": cfg.learning_rate,
                          "held_out_bpc": round(total / count / math.log(2), 4), "seconds": round(seconds, 1)}),
              flush=True)


if __name__ == "__main__":
    main()
