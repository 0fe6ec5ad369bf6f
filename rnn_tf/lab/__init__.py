"""The training-dynamics lab: small experiments that show why recurrent networks are hard to train.

    problems.py     the synthetic long-range problems (adding, copy memory) and their trivial baselines
    experiments.py  models for them, training in a fixed step budget, gradient norms through time,
                    clipping on and off
    plots.py        the figures (PNG)
    command.py      ``rnn-tf lab gradients | task | clipping`` (parsers and handlers; no TensorFlow import)
"""
