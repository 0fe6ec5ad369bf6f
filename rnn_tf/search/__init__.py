"""Hyperparameter search with keras-tuner, over the same model factories as training.

    flags + defaults -> base config      data prepared once (the task's ``prepare_search``)
    search space     -> hp.Choice / hp.Int / hp.Float ...   (the task's default, a JSON/YAML file, flags)
    trial            -> base config with the trial's values -> the task's own compiled factory -> fit

Everything that differs between tasks (config class, searchable settings, default space, reported
metrics, data preparation, training) comes from the task registry, ``rnn_tf.tasks``.

The modules, each importing only those above it in this list (no cycles):

    data        ``SearchData`` and ``fingerprint``: what a task's ``prepare_search`` returns (no TensorFlow)
    space       the search-space language: files, entries, checks, ``define`` on an ``hp`` (no TensorFlow)
    hypermodel  ``TaskHyperModel`` (read a trial's values, call the task's factory), ``continue_trial``
    worker      the trial process (``python -m rnn_tf.search.worker``) and the ``TrialProcess`` that drives it
    tuners      keras-tuner's tuners with a line per trial, and a trial process per trial when asked
    run         ``run_search``: checks, the project folder, the results table; ``train_best``
    command     the ``rnn-tf tune`` parsers and handlers (imports ``run`` only when a command runs)

This package imports nothing on import, so that ``rnn-tf --help`` stays free of TensorFlow.
"""
