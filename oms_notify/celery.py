"""The Celery app. Correlation ids travel in task headers from whoever enqueued the task."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun, worker_init
from django.conf import settings
from django.db import close_old_connections
from django.db.backends.signals import connection_created

from oms_notify.logging import get_correlation_id, new_correlation_id, set_correlation_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms_notify.settings")

app = Celery("oms_notify")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Celery's own "correlation_id" is the task id: ours travels under its own header name.
HEADER = "oms_correlation_id"


@before_task_publish.connect
def _attach_correlation_id(headers=None, **_kwargs):
    if headers is not None and not headers.get(HEADER):
        headers[HEADER] = get_correlation_id() or new_correlation_id()


@task_prerun.connect
def _adopt_correlation_id(task=None, **_kwargs):
    request = task.request if task is not None else None
    cid = getattr(request, HEADER, None) or ((getattr(request, "headers", None) or {}).get(HEADER))
    # Eager tasks run inside the caller: keep the caller's id.
    set_correlation_id(cid or get_correlation_id() or new_correlation_id())


@task_prerun.connect
def _recycle_database_connections(task=None, **_kwargs):
    """As at the start of a web request: a connection older than CONN_MAX_AGE, or left broken by
    the last task, is closed, and a kept one is health-checked before its first use.

    Celery's own fixup would close it around every task (CELERY_DB_REUSE_MAX stops that). Once per
    task, before it, is enough: after it the next task's check comes first anyway.
    """
    if task is not None and not task.request.is_eager:
        close_old_connections()


@task_postrun.connect
def _forget_correlation_id(task=None, **_kwargs):
    if task is not None and not task.request.is_eager:
        set_correlation_id(None)


@worker_init.connect
def _worker_commits(**_kwargs):
    """In a worker, commits need not wait for the WAL flush (WORKER_SYNCHRONOUS_COMMIT=false).

    What a worker writes can be written again: a carrier event lost with the last fraction of a
    second before a database crash is applied again from its stored webhook (durable: the web
    process commits it synchronously), and a lost claim or outcome sends a message again. So a
    database crash costs at most a duplicate message, as a worker crash does; nothing is lost.
    """
    if not settings.WORKER_SYNCHRONOUS_COMMIT:
        connection_created.connect(_asynchronous_commit, weak=False)


def _asynchronous_commit(sender, connection, **_kwargs):
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")
