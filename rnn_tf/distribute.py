"""Training on several devices or machines with ``tf.distribute`` (``--strategy``, every task).

    none          one process, TensorFlow's default device placement
    mirrored      ``MirroredStrategy``: every local GPU (on a machine without one: the CPU)
    multi-worker  ``MultiWorkerMirroredStrategy``: one process per machine, the cluster read from
                  ``TF_CONFIG`` as TensorFlow defines it; collectives over gRPC

Every worker runs the same command. ``--batch-size`` is the global batch: each step's batch is split
across the replicas (tf.data's DATA sharding of the one seeded stream), their gradients are summed, and
every replica applies the same update, so a run matches a single process with the same batch (up to
float rounding; dropout masks are drawn per replica, so with dropout the draws differ). The chief
(``task.type`` "chief", or worker 0 when there is none) writes the run folder; every other worker keeps
what it needs to resume in a folder of its own beside it (``RUN.worker-K``), since machines need not
share a disk. A worker that dies is noticed by TensorFlow's health check within about a minute: the
others stop with one line that says to start every worker again with ``--resume``.

Keras 3 (3.15) mishandles ``MultiWorkerMirroredStrategy`` in two places (keras-team/keras#20585):
``fit`` builds the model by averaging a first batch across workers, which fails, and it averages the
scalar logs of a step along an axis they lack. ``keras_fixes`` works around both while training runs.
"""

from __future__ import annotations

import contextlib
import json
import os

from rnn_tf.errors import UserError

LOST_PEER = "a worker of the cluster stopped or cannot be reached"


def make_strategy(name: str):
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    cluster_spec()  # a clear error before TensorFlow tries to read it
    return tf.distribute.MultiWorkerMirroredStrategy()


def cluster_spec() -> tuple[dict, dict]:
    """(cluster, this task) from ``TF_CONFIG``, checked."""
    how = ('set TF_CONFIG on every machine, e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
           '"task": {"type": "worker", "index": 0}}')
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise UserError(f"--strategy multi-worker reads the cluster from TF_CONFIG, which is not set: {how}")
    try:
        config = json.loads(raw)
        cluster, task = config["cluster"], config["task"]
        members = cluster[task["type"]]
        if not isinstance(members, list) or not 0 <= int(task["index"]) < len(members):
            raise ValueError("task index out of range")
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"TF_CONFIG is not a cluster TensorFlow can read ({exc}): {how}") from None
    return cluster, task


def is_chief(strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().jobs


def worker_folder(run_dir: str, strategy) -> str:
    resolver = strategy.cluster_resolver
    suffix = "" if resolver.task_type == "worker" else f"-{resolver.task_type}"
    return f"{os.path.normpath(run_dir)}.worker{suffix}-{resolver.task_id}"


def train_with_strategy(train, run_dir: str, settings: dict | None, options: dict):
    """``train(run_dir, settings, **options)`` (a task's workflow ``train``) under ``settings["strategy"]``."""
    name = (settings or {}).get("strategy") or "none"
    if name == "none":
        return train(run_dir, settings, **options)
    import tensorflow as tf

    strategy = make_strategy(name)
    if not is_chief(strategy):  # its own folder: a fresh one for a new run, its own copy to resume from
        run_dir = worker_folder(run_dir, strategy)
        options = {**options, "overwrite": not options.get("resume")}
    try:
        with strategy.scope(), keras_fixes():
            return train(run_dir, settings, **options)
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError,
            tf.errors.FailedPreconditionError) as exc:
        first = (exc.message or type(exc).__name__).strip().splitlines()[0][:160]
        raise UserError(f"{LOST_PEER} ({first}): the epochs committed so far are saved; start every worker "
                        "again with --resume") from None


def prepare_fit(model, train_ds, validation_data):
    """Inside a strategy: build the model, optimizer and metrics from one batch here, so that ``fit``
    skips its own build (which would average a batch across workers); validation batches go whole to
    one replica or another (their figures are summed over all of them, so they are exact). Returns
    (the function that splits a training stream across the replicas, the validation data)."""
    import tensorflow as tf

    model._symbolic_build(data_batch=next(iter(train_ds.take(1))))
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None  # built: nothing left to do
    if isinstance(validation_data, tf.data.Dataset):
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        validation_data = validation_data.with_options(options)
    return split_batches, validation_data


def check_same_start(done: int, steps_done: int) -> None:
    """Every worker must go on from the same point (a worker that died between the chief's commit of an
    epoch and its own holds one epoch less): otherwise the replicas would train different steps."""
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    workers = getattr(strategy.extended, "_num_workers", 1)
    if workers <= 1:
        return
    point = float(done) * 1e6 + float(steps_done)
    total, squares = (float(strategy.reduce("SUM", strategy.run(lambda v=v: tf.constant(v, tf.float64)), axis=None))
                      for v in (point, point * point))
    if abs(workers * squares - total * total) > 0.5:
        raise UserError(f"the workers' run folders stand at different points (this one: epoch {done}"
                        + (f", step {steps_done} of the next" if steps_done else "") + f"; all of them on average: "
                        f"epoch {total / workers / 1e6:.2f}): a worker stopped between two commits; copy the "
                        "chief's run folder over each worker's (RUN.worker-K) and --resume again")


def split_batches(dataset):
    """The distributed form of a stream of global batches: replica r of R takes rows r*n/R .. (r+1)*n/R
    of every batch of n rows, so step k trains on global batch k, as one process would."""
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()

    def pipeline(context):  # one per worker, feeding its local replicas in turn
        replicas = context.num_replicas_in_sync
        local = replicas // context.num_input_pipelines
        first = context.input_pipeline_id * local

        def slices(*batch):
            rows = tf.shape(tf.nest.flatten(batch)[0])[0]

            def part(j):
                r = first + tf.cast(j, tf.int32)
                lo, hi = r * rows // replicas, (r + 1) * rows // replicas
                return tf.nest.map_structure(lambda t: t[lo:hi], batch)

            return tf.data.Dataset.range(local).map(part)

        return dataset.flat_map(slices)

    return strategy.distribute_datasets_from_function(pipeline)


@contextlib.contextmanager
def keras_fixes():
    """While training under a strategy: Keras's per-replica reduction of a step's logs, averaged
    without an axis for scalars across workers (Keras passes ``axis=0``, which scalars lack)."""
    from keras import tree
    from keras.src.backend.tensorflow import trainer

    original = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if trainer._collective_all_reduce_multi_worker(strategy) and reduction in ("auto", "mean"):
            return tree.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=None) if trainer._is_per_replica_instance(v) else v, values)
        return original(values, strategy, reduction)

    trainer.reduce_per_replica = reduce_per_replica
    try:
        yield
    finally:
        trainer.reduce_per_replica = original
