"""Every task's name is defined once, in core/task_names.py, and names a registered task."""

from __future__ import annotations

from config.celery import app
from core import task_names

NAMES = {value for key, value in vars(task_names).items() if key.isupper()}


def test_every_name_is_a_registered_task_and_every_task_has_a_name():
    app.loader.import_default_modules()
    ours = {name for name in app.tasks if not name.startswith("celery.")}
    assert NAMES - ours == set(), "a name in core/task_names.py without its task"
    assert ours - NAMES == set(), "a task whose name is not in core/task_names.py"
