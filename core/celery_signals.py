"""The API request's id travels into the Celery tasks it causes, so their logs carry it.

Connected when Django starts (`CoreConfig.ready`): the web process stamps the id
on every message it publishes, a worker sets it around the task it runs.
"""

from __future__ import annotations

from celery.signals import before_task_publish, task_postrun, task_prerun

from core.logging import request_id_var

REQUEST_ID_HEADER = "request_id"


@before_task_publish.connect(weak=False, dispatch_uid="core.request_id.publish")
def _add_request_id_header(headers: dict | None = None, **kwargs) -> None:
    request_id = request_id_var.get()
    if headers is not None and request_id and not headers.get(REQUEST_ID_HEADER):
        headers[REQUEST_ID_HEADER] = request_id


@task_prerun.connect(weak=False, dispatch_uid="core.request_id.prerun")
def _enter_request_id(task=None, **kwargs) -> None:
    request = getattr(task, "request", None)
    request_id = None
    if request is not None:
        request_id = (request.headers or {}).get(REQUEST_ID_HEADER) or request.get(REQUEST_ID_HEADER)
    task._request_id_token = request_id_var.set(request_id)


@task_postrun.connect(weak=False, dispatch_uid="core.request_id.postrun")
def _leave_request_id(task=None, **kwargs) -> None:
    token = getattr(task, "_request_id_token", None)
    if token is not None:
        request_id_var.reset(token)
        task._request_id_token = None
