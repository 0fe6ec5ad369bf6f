"""`python -m rnn_tf ...` is the same as the `rnn-tf` command."""

import sys

from rnn_tf.cli import main

if __name__ == "__main__":
    sys.exit(main())
