"""``rnn-tf export --run-dir RUN --out DIR``: a run as a TensorFlow SavedModel with string signatures.

The run's task builds the module to save (``Task.serving``: see ``serving.py``); this writes it whole
into a temporary folder beside ``DIR`` and renames it into place, so an interrupted export leaves no
half model and an existing one is replaced only with ``--overwrite``, and only once the new one is
complete. ``DIR/export.json`` says what was exported and how to call each signature.
"""

from __future__ import annotations

import json
import os
import shutil

from rnn_tf import __version__
from rnn_tf.errors import UserError
from rnn_tf.runs import RunDir


def export_run(run_dir: str, out: str, weights: str = "best", overwrite: bool = False, xla: bool = True) -> dict:
    """Save the run as a SavedModel in ``out``; returns what ``out/export.json`` says."""
    import tensorflow as tf

    from rnn_tf.codecs import PieceCodec
    from rnn_tf.tasks import get_task

    out = os.path.normpath(out)
    if os.path.exists(out) and not overwrite and (not os.path.isdir(out) or os.listdir(out)):
        raise UserError(f"'{out}' already exists: choose another --out, or pass --overwrite to replace it")
    if os.path.abspath(out) == os.path.abspath(run_dir) or os.path.isfile(os.path.join(out, "config.json")):
        raise UserError(f"'{out}' is a run folder: export into a folder of its own")
    data = RunDir(run_dir).read_config()
    task = get_task(data.get("task", "") if isinstance(data, dict) else "")
    module = task.serving(run_dir, weights, xla)
    info = {"task": task.name, "run": os.path.abspath(run_dir), "weights": weights, "xla": xla, "rnn_tf": __version__,
            "tensorflow": tf.__version__, "signatures": module.describe(),
            "load": "tf.saved_model.load(DIR).signatures[NAME](**inputs)"}
    if any(isinstance(m, PieceCodec) for m in module.submodules):  # SentencePiece's ops live in TensorFlow Text
        info["load"] = "import tensorflow_text; " + info["load"]
    if getattr(module, "note", None):
        info["note"] = module.note
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = f"{out}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tf.saved_model.save(module, tmp, signatures=module.signatures())
        with open(os.path.join(tmp, "export.json"), "w", encoding="utf-8") as f:
            json.dump(info, f, ensure_ascii=False, indent=1)
        old = f"{out}.{os.getpid()}.old"
        if os.path.exists(out):
            os.replace(out, old)
        os.replace(tmp, out)
        if os.path.isdir(old):
            shutil.rmtree(old)
        elif os.path.exists(old):
            os.remove(old)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return info


def add_export_command(groups) -> None:
    p = groups.add_parser("export", help="save a run as a TensorFlow SavedModel (string in, string out)",
                          description="Save a trained run as a TensorFlow SavedModel whose signatures take and give "
                                      "strings: load it with tf.saved_model.load or serve it with TensorFlow Serving, "
                                      "without rnn_tf. The signatures are listed in DIR/export.json.")
    p.add_argument("--run-dir", required=True, help="a trained run folder")
    p.add_argument("--out", required=True, help="the SavedModel folder to write")
    p.add_argument("--weights", default="best", help="best, last or a .weights.h5 path (default: best)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--no-xla", dest="xla", action="store_false",
                   help="text generation: loops as plain TensorFlow ops, for servers without XLA (TensorFlow Serving "
                        "runs XLA only with --xla_cpu_compilation_enabled); the text may then differ from the command "
                        "line's in a rare draw (default: XLA, as the command line samples)")
    p.set_defaults(handler=run_export)


def run_export(args) -> int:
    info = export_run(args.run_dir, args.out, args.weights, args.overwrite, args.xla)
    for name, sig in info["signatures"].items():
        print(f"{name}: ({', '.join(sig['inputs'])}) -> ({', '.join(sig['outputs'])})")
    print(f"saved a {info['task']} model in {args.out} (see {os.path.join(args.out, 'export.json')})")
    return 0
