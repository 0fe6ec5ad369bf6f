"""Train a sentiment classifier on the MR sentence-polarity snippets, score it, and label new text.

A readable starting point: every step is one library call. Needs NLTK's sentence_polarity
(python -m nltk.downloader sentence_polarity, or NLTK_DATA). Run
    python scripts/train_classifier.py
"""

from rnn_tf.classify import predict, train_classifier

RUN_DIR = "runs/mr-bilstm-script"
SETTINGS = dict(
    data="nltk:sentence_polarity",  # or "reviews.csv" (text,label columns), "aclImdb/", "nltk:names"
    model="rnn",                    # rnn | cnn | bow
    cell="lstm",                    # lstm | gru | simple_rnn | irnn
    bidirectional=True,
    pooling="last",                 # last | mean | max | attention
    units=64,
    embedding_dim=64,
    dropout=0.3,
    epochs=5,
    seed=1,
)

if __name__ == "__main__":
    result = train_classifier(RUN_DIR, SETTINGS, overwrite=True)
    print(f"test accuracy {result.report['accuracy']:.3f}, macro-F1 {result.report['macro_f1']:.3f}")
    for r in predict(RUN_DIR, ["a gripping, beautifully acted film", "tedious and far too long"]):
        print(f"{r['label']}  {r['probability']:.2f}  {r['text']}")
