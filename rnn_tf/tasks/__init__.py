"""The registry of tasks: the one place that lists them. The CLI, the search and the trial workers
read it; nothing else switches on a task's name. A new task is a module here (config, flags,
commands, search space: see ``base.Task``), its workflow module, its model factory, and one line below.
"""

from __future__ import annotations

from rnn_tf.errors import UserError
from rnn_tf.tasks import classify, tag, textgen, translate
from rnn_tf.tasks.base import Task

TASKS: dict[str, Task] = {task.name: task for task in (
    textgen.TASK,
    classify.TASK,
    translate.TASK,
    tag.TASK,
)}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise UserError(f"unknown task '{name}': use one of {', '.join(TASKS)}") from None
