"""The one training lifecycle every task runs: open or resume the run, seed, restore, fit with a
checkpoint every epoch, one divergence policy, the best epoch loaded at the end.

    open_run      check that a run may start (or resume) in its folder; writes nothing
    begin_run     a new run: clear the folder (with --overwrite), write config.json and the task's files;
                  a resumed run: restore weights, optimizer state and dropout's generators, rewrite config.json
    fit_run       model.fit from the epoch after the last saved one, with RunCheckpoint; then the result
    load_weights  model.load_weights that refuses a file that does not fit, instead of half-loading it

Resuming restores the weights, the optimizer state (its step counter and moving averages, so the
learning-rate schedule too), the epoch counter and the config, and appends to the same history: a run
stopped after epoch 3 and resumed to epoch 5 reads exactly like a run trained to epoch 5 (batch k of
every task's dataset is a function of (seed, k), and the optimizer's step says where to continue).

Divergence (a loss that is not finite): training stops, the bad epoch is not saved, the last good
epoch stays the run's latest, and the result says so (``diverged``); the CLI then exits with code 1.
"""

from __future__ import annotations

import math
import os
import secrets
import sys
import warnings
from dataclasses import dataclass, field

import keras

from rnn_tf.budget import PARTIAL_CHECKPOINT, PartialEpoch, TimeBudget, format_duration
from rnn_tf.callbacks import RunCheckpoint, TensorBoardLog, logged_columns, out_of_patience, rng_variables
from rnn_tf.config import RunConfig
from rnn_tf.errors import UserError
from rnn_tf.integrity import sha256_file, verify
from rnn_tf.runs import RunDir, copy_atomic


DIVERGED_FACTOR = 10.0  # a training loss this many times an untrained model's has diverged


class DenseGradients:
    """Optimizer mixin: dense embedding gradients, and the global gradient norm of every step.

    Keras's sparse path fails with an index error instead of producing NaN once a diverging
    run's gradients stop being finite, which would keep ``TerminateOnNaN`` from stopping it cleanly.
    A dense gradient of a (vocabulary x embedding) matrix is cheap at these sizes.

    The norm of all gradients together, before clipping, is where exploding gradients show: the
    optimizer keeps the last one and the mean and largest since ``reset_gradient_norms`` (history.csv's
    ``grad_norm`` and ``grad_norm_max``). They live in a plain ``tf.Variable`` outside Keras's tracking,
    so checkpoints hold exactly the variables they always held.
    """

    def build(self, variables):
        import tensorflow as tf

        super().build(variables)
        with tf.init_scope():  # [last, sum, count, max]
            object.__setattr__(self, "_norms", tf.Variable(tf.zeros(4), trainable=False, name="gradient_norms"))

    def apply(self, grads, trainable_variables=None):
        import tensorflow as tf

        grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
        replicas = tf.distribute.get_replica_context()
        summed = replicas is not None and replicas.num_replicas_in_sync > 1
        if summed:  # tf.distribute: the global batch's gradient first, so norms and clipping are one process's
            present = [i for i, g in enumerate(grads) if g is not None]
            for i, g in zip(present, replicas.all_reduce("SUM", [grads[i] for i in present])):
                grads[i] = g
        norms = getattr(self, "_norms", None)
        if norms is not None:
            norm = tf.linalg.global_norm([g for g in grads if g is not None])
            norms.assign(tf.stack([norm, norms[1] + norm, norms[2] + 1.0, tf.maximum(norms[3], norm)]))
        object.__setattr__(self, "_summed", summed)  # read while this step is traced: Keras must not sum again
        try:
            return super().apply(grads, trainable_variables)
        finally:
            object.__setattr__(self, "_summed", False)

    def _all_reduce_sum_gradients(self, grads_and_vars):
        if getattr(self, "_summed", False):
            return list(grads_and_vars)
        return super()._all_reduce_sum_gradients(grads_and_vars)

    def reset_gradient_norms(self) -> None:
        if getattr(self, "_norms", None) is not None:
            self._norms.assign([0.0, 0.0, 0.0, 0.0])

    def gradient_norms(self) -> dict:
        """{"last", "mean", "max"} of the global gradient norm since the last reset (None before a step)."""
        norms = getattr(self, "_norms", None)
        if norms is None:
            return {"last": None, "mean": None, "max": None}
        last, total, count, largest = (float(v) for v in norms.numpy())
        if not count:
            return {"last": None, "mean": None, "max": None}
        return {"last": last, "mean": total / count, "max": largest}


class RMSprop(DenseGradients, keras.optimizers.RMSprop):
    pass


class Adam(DenseGradients, keras.optimizers.Adam):
    pass


class SGD(DenseGradients, keras.optimizers.SGD):
    pass


@dataclass
class TrainResult:
    run_dir: str
    config: RunConfig
    epochs_done: int
    best_epoch: int | None
    best_val_loss: float | None
    stopped_on_nan: bool  # training diverged: the last good epoch (epochs_done) is the run's latest
    history: list[dict] = field(default_factory=list)
    report: dict | None = None  # the task's test scores, when it scores one (None after divergence)
    diverged_where: str = ""  # e.g. "fold 2": which part of a run diverged, when it has parts
    cut: bool = False  # --max-time ran out before the last epoch: no test report; --resume goes on


def open_run(run: RunDir, config_cls, settings: dict | None, resume: bool, overwrite: bool):
    """Check that a run may start (or resume) in ``run``; returns (config, state, epochs done).

    New run: the config is ``settings`` over the defaults, with a random seed when none is given.
    Resume: the saved config, where ``settings`` may only change ``config_cls.RESUMABLE``.
    Writes nothing, so a refusal leaves the folder as it was.
    """
    settings = {k: v for k, v in (settings or {}).items() if v is not None}
    if resume and overwrite:
        raise UserError("--resume and --overwrite contradict each other: pass one of them")
    if not resume:
        cfg = config_cls(**settings).validate()
        run.check_new(overwrite)
        if cfg.seed is None:
            cfg.seed = secrets.randbelow(2**31)
        return cfg, {"best_val_loss": None, "best_epoch": None}, 0
    cfg = run.load_config(config_cls).resumed_with(settings)
    state = run.read_state()
    return cfg, state, check_resumable(run, cfg, state)


def check_resumable(run: RunDir, cfg: RunConfig, state: dict) -> int:
    """The epochs done, when the run can train further; otherwise a UserError that says what to do."""
    done = int(state["epoch"])
    if done < 1 and not state.get("partial"):
        raise UserError(f"run '{run.path}' has no completed epoch to resume: start it again with --overwrite")
    if cfg.epochs <= done:
        raise UserError(
            f"run '{run.path}' has already trained {done} epochs: pass --epochs N with N above {done} "
            "to train further"
        )
    if out_of_patience(cfg.patience, done, state.get("best_epoch")):
        raise UserError(
            f"run '{run.path}' stopped early at epoch {done} ({done - state['best_epoch']} epochs after its best, "
            f"epoch {state['best_epoch']}): resume with a larger --patience, or --patience 0 to train on"
        )
    return done


GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1, "irnn": 1,  # weight blocks per recurrent cell
         "peephole_lstm": 4, "cifg_lstm": 3, "nfg_lstm": 3}


def check_model_fits(cfg: RunConfig, inputs: int, outputs: int, *, stacks: int = 1, bidirectional: bool = False,
                     optimizer_slots: int = 2) -> None:
    """Refuse a model whose weights, gradients and optimizer state would not fit in this machine's
    memory, before anything is allocated (``--units 100000000`` would otherwise be killed by the
    kernel without a word). A count from the settings: embeddings of ``inputs`` tokens, ``stacks``
    recurrent stacks (an encoder and a decoder: 2), a dense layer over ``outputs``."""
    directions = 2 if bidirectional else 1
    per_layer = []
    width = cfg.embedding_dim
    for _ in range(cfg.layers):
        per_layer.append(directions * GATES.get(cfg.cell, 4) * cfg.units * (width + cfg.units + 2))
        width = directions * cfg.units
    params = inputs * cfg.embedding_dim + stacks * sum(per_layer) + (width + 1) * outputs
    needed = params * 4 * (2 + optimizer_slots)  # float32 weights, gradients, optimizer slots
    available = available_memory()
    if available is not None and needed > available:
        raise UserError(f"this model has about {params:,} parameters: {needed / 2**30:,.1f} GiB with its gradients "
                        f"and optimizer state, more than the {available / 2**30:,.1f} GiB of memory available: "
                        "use fewer --units or --layers, or a smaller vocabulary")


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux's MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def begin_run(run: RunDir, cfg: RunConfig, model: keras.Model, done: int, resume: bool, overwrite: bool,
              save_files=None, stream=None) -> None:
    """Make ``run`` ready to train ``model`` (built and compiled from ``cfg`` after seeding).

    Resume: restore epoch ``done`` and rewrite config.json (its resumable settings may have changed).
    New run: the first step that deletes or writes (every input has been checked by now): clear the
    folder, write config.json, then ``save_files()`` (the task's vocabularies, split, ...)."""
    if resume:
        run.remove_partials()
        restore_checkpoint(run, model, done, stream, cfg.RESUMABLE)
        run.write_json(run.config, cfg.to_dict())
        return
    run.prepare_new(overwrite)
    run.write_json(run.config, cfg.to_dict())
    if save_files is not None:
        save_files()


def fit_run(run: RunDir, cfg: RunConfig, model: keras.Model, state: dict, done: int, train_ds, *,
            steps: int, validation_data=None, validation_steps: int | None = None, callbacks=(),
            columns=logged_columns, outputs: int | None = None, verbose: int = 1, stream=None,
            load_best: bool = True, images=None) -> TrainResult:
    """Train epochs ``done + 1 .. cfg.epochs`` with a checkpoint after every epoch (``callbacks`` run
    before it: samples, ...), then load the best epoch's weights into ``model`` (unless training
    diverged: then the model is left as it is and the result says ``stopped_on_nan``).

    ``outputs``: the number of classes the model predicts among (vocabulary, labels). An untrained
    model's cross-entropy is about ln(outputs); a training loss above ``DIVERGED_FACTOR`` times that
    has diverged as surely as a NaN (weights blown up to 1e30 give finite but meaningless losses).
    ``images``: with ``--tensorboard``, epoch -> {tag: PNG bytes} to show beside the figures."""
    stream = stream or sys.stdout
    max_loss = DIVERGED_FACTOR * math.log(max(outputs, 2)) if outputs else None
    budget = TimeBudget(cfg.max_time) if cfg.max_time else None
    checkpoint = RunCheckpoint(run, state.get("best_val_loss"), state.get("best_epoch"), stream=stream,
                               columns=columns, patience=cfg.patience, max_loss=max_loss,
                               resumable=cfg.RESUMABLE, budget=budget)
    after = [TensorBoardLog(run, images)] if cfg.tensorboard else []  # reads what the checkpoint committed
    every = [*([budget] if budget else []), keras.callbacks.TerminateOnNaN(), *callbacks, checkpoint, *after]
    options = dict(validation_data=validation_data, validation_steps=validation_steps, verbose=verbose,
                   shuffle=False)  # every task's dataset does its own, resumable shuffling
    place = lambda ds: ds  # noqa: E731
    if cfg.strategy and cfg.strategy != "none":  # under tf.distribute (distribute.train_with_strategy)
        from rnn_tf.distribute import check_same_start, prepare_fit

        place, options["validation_data"] = prepare_fit(model, train_ds, validation_data)
        check_same_start(done, int((state.get("partial") or {}).get("steps_done") or 0))
    partial = state.get("partial")
    if partial and done < cfg.epochs:  # first the rest of the epoch a time budget cut short
        remaining = steps - int(partial["steps_done"])
        checkpoint.epoch_steps, checkpoint.steps_before = remaining, int(partial["steps_done"])
        checkpoint.seconds_before = float(partial.get("seconds") or 0.0)
        model.fit(place(train_ds), epochs=done + 1, initial_epoch=done, steps_per_epoch=remaining,
                  callbacks=[PartialEpoch(partial), *every], **options)
        train_ds = train_ds.skip(remaining)  # the stream goes on where that epoch stopped
        checkpoint.steps_before, checkpoint.seconds_before = 0, 0.0
        after_partial = run.read_state()
        if after_partial.get("partial") or checkpoint.stopped_on_nan or out_of_patience(
                cfg.patience, int(after_partial["epoch"]), after_partial.get("best_epoch")):
            done = cfg.epochs  # stopped again (budget, divergence, patience): nothing more this time
        else:
            done = int(after_partial["epoch"])
    if done < cfg.epochs and not (budget and budget.expired):
        checkpoint.epoch_steps = steps
        model.fit(place(train_ds), epochs=cfg.epochs, initial_epoch=done, steps_per_epoch=steps, callbacks=every,
                  **options)
    final = run.read_state()
    cut = bool(final.get("partial")) or (budget is not None and budget.expired and int(final["epoch"]) < cfg.epochs)
    if budget and budget.expired and not final.get("partial"):
        print(f"time budget ({format_duration(budget.seconds)}) used up at the end of epoch {final['epoch']}"
              + ("; continue with --resume" if cut else ""), file=stream, flush=True)
    if load_best and not checkpoint.stopped_on_nan and int(final["epoch"]) >= 1:
        load_weights(model, run.weights("best"))
    return TrainResult(run.path, cfg, int(final["epoch"]), final.get("best_epoch"), final.get("best_val_loss"),
                       checkpoint.stopped_on_nan, run.read_history(), cut=cut)


def open_for_reading(run: RunDir, config_cls, weights: str = "best"):
    """(config, weights path) of a run about to be used (sampled, scored, translated), after checking
    its files against its last commit. Takes no lock: it reads only what a commit has finished."""
    cfg = run.load_config(config_cls)
    path = run.weights(weights)
    verify(run, cfg.RESUMABLE, path)
    return cfg, path


def restore_checkpoint(run: RunDir, model: keras.Model, epoch: int, stream=None, resumable=()) -> None:
    """Load weights *and optimizer state* of ``epoch`` (after checking the run's files against its last
    commit) and drop whatever was written after that commit: history rows, samples, and a best
    weights file that an uncommitted epoch may have replaced."""
    state = run.read_state()
    partial = state.get("partial")  # a time budget cut the next epoch short: continue inside it
    path = os.path.join(run.checkpoints, PARTIAL_CHECKPOINT) if partial else run.checkpoint(epoch)
    verify(run, resumable, None if partial else path)
    if partial and (not os.path.isfile(path) or sha256_file(path) != partial.get("sha256")):
        raise UserError(f"run folder '{run.path}': checkpoints/{PARTIAL_CHECKPOINT} is missing or changed since it "
                        "was saved: restore it from a copy, or start the run again with --overwrite")
    model.optimizer.build(model.trainable_variables)  # without this the optimizer state is not loaded
    load_weights(model, path)
    best = state.get("best_epoch")
    if best and os.path.isfile(run.checkpoint(best)):
        copy_atomic(run.checkpoint(best), run.best_weights)
    saved_rng = (partial or state).get("rng_states") or []
    generators = rng_variables(model)
    if len(saved_rng) == len(generators):  # dropout's generators continue where they stopped
        for variable, value in zip(generators, saved_rng):
            variable.assign(value)
    run.truncate_history(epoch)
    run.truncate_samples(epoch)
    where = f"in epoch {partial['epoch']} after its step {partial['steps_done']}" if partial else f"after epoch {epoch}"
    print(f"resuming '{run.path}' {where} (optimizer step {int(model.optimizer.iterations.numpy())})",
          file=stream or sys.stdout)


def load_weights(model: keras.Model, path: str) -> None:
    """``model.load_weights`` with a clear error when the file does not fit the model.

    Keras only warns when it skips part of a file (skipped layers keep their random initial weights,
    a skipped optimizer its fresh state); a half-loaded model is an error here, like any other
    mismatch, so a resumed run never silently restarts its optimizer.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
            skipped = [w for w in caught if str(w.message).startswith("Skipping")]
            if skipped:
                raise ValueError(str(skipped[0].message))
        except (ValueError, KeyError, OSError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(
                f"weights '{path}' do not fit the model described by config.json ({first[:160]}): "
                "use weights saved by this run"
            ) from None
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
