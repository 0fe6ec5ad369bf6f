"""What the tests share: train a tiny run of any task, run the CLI in-process, and one check for every
model factory (build, fit one step, shapes, config and save/load)."""

import os

import numpy as np
import keras


def train_run(task: str, run_dir, settings: dict, **options):
    """Train (or, with ``resume=True``, resume) a run of the registered ``task``, quietly."""
    from rnn_tf.tasks import get_task

    return get_task(task).train(str(run_dir), settings, verbose=0, stream=open(os.devnull, "w"), **options)


def run_model_checks(model: keras.Model, inputs, targets, expected_output_shape, loss, tmp_path):
    """Builds ``model``, fits one step, checks the output shape, round-trips ``get_config`` /
    ``from_config`` and ``.weights.h5`` save/load, and asserts identical predictions after loading."""
    model.compile(optimizer="rmsprop", loss=loss)
    history = model.fit(inputs, targets, epochs=1, batch_size=len(inputs), verbose=0)
    assert np.isfinite(history.history["loss"][0])
    outputs = model.predict(inputs, verbose=0)
    assert outputs.shape == expected_output_shape

    clone = model.__class__.from_config(model.get_config())
    assert [l.name for l in clone.layers] == [l.name for l in model.layers]

    path = str(tmp_path / "check.weights.h5")
    model.save_weights(path)
    clone.load_weights(path)
    np.testing.assert_allclose(clone.predict(inputs, verbose=0), outputs, rtol=1e-5, atol=1e-6)
    return outputs


def exit_code(argv) -> int:
    """The CLI run in-process: ``main``'s return value, or the code argparse exits with for a bad flag."""
    from rnn_tf.cli import main

    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def run_cli(argv, capsys) -> tuple[int, str]:
    """The CLI run in-process: (exit code, stderr)."""
    code = exit_code(argv)
    return code, capsys.readouterr().err.strip()


def assert_user_error(argv, capsys, match: str) -> None:
    """A refused command: exit code 2 and one line on stderr that says ``match``."""
    code, err = run_cli(argv, capsys)
    assert code == 2 and match in err and len(err.splitlines()) == 1, err
