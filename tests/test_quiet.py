"""A quiet start: TensorFlow's start-up noise is hidden on a machine without a GPU, real warnings and
errors are not, and ``--verbose`` shows everything."""

import subprocess
import sys

import pytest

from rnn_tf.quiet import has_nvidia_device, is_noise

NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1795536013.014745   22577 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will "
    "not be used.",
    "E0000 00:00:1795535914.138106   21416 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed "
    "call to cuInit: UNKNOWN ERROR (303)",
    "I0000 00:00:1795536013.105444   22577 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
    "available CPU instructions in performance-critical operations.",
]


def test_start_up_noise_is_hidden_and_real_messages_are_not():
    assert all(is_noise(line, gpu_present=False) for line in NOISE)
    assert not is_noise(NOISE[2], gpu_present=True)  # with a GPU, a failing cuInit is a real error
    for real in ("W0000 00:00:1.0 1 op_kernel.cc:1] OP_REQUIRES failed: out of memory",
                 "E0000 00:00:1.0 1 meta_optimizer.cc:1] Loop optimizer failed"):
        assert not is_noise(real, gpu_present=False)


@pytest.mark.skipif(has_nvidia_device(), reason="the CUDA lines are real messages on a machine with a GPU")
def test_a_command_starts_quietly_and_verbose_shows_the_start_up(tmp_path):
    from conftest import write_corpus

    corpus = write_corpus(tmp_path / "corpus")
    train = [sys.executable, "-m", "rnn_tf", "textgen", "train", "--run-dir", str(tmp_path / "run"), "--corpus",
             str(corpus), "--epochs", "1", "--steps-per-epoch", "1", "--units", "4", "--sample-length", "5",
             "--temperature", "1", "--quiet"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no TF_CPP_MIN_LOG_LEVEL from the test run
    done = subprocess.run(train, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "cuda" not in done.stderr.lower() and "absl" not in done.stderr, done.stderr
    loud = subprocess.run([sys.executable, "-m", "rnn_tf", "--verbose", "textgen", "generate", "--run-dir",
                           str(tmp_path / "run"), "--length", "5"], capture_output=True, text=True, env=env,
                          timeout=300)
    assert loud.returncode == 0 and "cuda" in loud.stderr.lower(), loud.stderr
