"""Unlabelled movie-domain text and word2vec vectors trained on it, for ``classify train --embeddings``.

    python scripts/movie_vectors.py --out runs/movie-text --vectors runs/movie-w2v.txt

writes the texts of NLTK's sentence_polarity (MR), subjectivity (SUBJ) and movie_reviews corpora, one
per line and without their labels, into ``--out/*.txt`` (a corpus folder that ``rnn-tf textgen train
--corpus FOLDER --level word`` can pretrain a language model on), and trains word2vec (gensim,
skip-gram, 100 dimensions) on the same text, tokenized and lower-cased as the classifier tokenizes,
saved in word2vec's text format. The labels are never read: a test fold's texts are in the pretraining
text, its labels are not.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

CORPORA = ("sentence_polarity", "subjectivity", "movie_reviews")


def write_texts(out: str) -> list[list[str]]:
    from rnn_tf.labelled import load_labelled
    from rnn_tf.vocab import tokenize_words

    os.makedirs(out, exist_ok=True)
    sentences = []
    for name in CORPORA:
        texts = [" ".join(ex.text.split()) for ex in load_labelled(f"nltk:{name}").examples]
        with open(os.path.join(out, f"{name}.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(texts) + "\n")
        sentences += [tokenize_words(t.lower()) for t in texts]
        print(f"{name}: {len(texts):,} texts", flush=True)
    return sentences


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/movie-text", help="corpus folder to write (default: runs/movie-text)")
    p.add_argument("--vectors", default="runs/movie-w2v.txt", help="word2vec text file to write")
    p.add_argument("--dim", type=int, default=100, help="vector size (default: 100)")
    p.add_argument("--epochs", type=int, default=10, help="passes over the text (default: 10)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    from gensim.models import Word2Vec

    sentences = write_texts(args.out)
    start = time.perf_counter()
    model = Word2Vec(sentences, vector_size=args.dim, window=5, min_count=2, sg=1, negative=10, epochs=args.epochs,
                     seed=args.seed, workers=os.cpu_count() or 1)
    model.wv.save_word2vec_format(args.vectors)
    tokens = sum(map(len, sentences))
    print(f"word2vec: {len(model.wv):,} words x {args.dim} from {tokens:,} tokens in "
          f"{time.perf_counter() - start:.0f} s -> {args.vectors}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
