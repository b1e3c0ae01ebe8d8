"""WORKER_SYNCHRONOUS_COMMIT=false: worker connections commit without waiting for the WAL flush."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.backends.signals import connection_created

from oms_notify import celery as celery_app

pytestmark = pytest.mark.django_db(transaction=True)


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.fixture
def worker_started(settings):
    def start(value: bool) -> None:
        settings.WORKER_SYNCHRONOUS_COMMIT = value
        celery_app._worker_commits()
        connection.close()
        connection.ensure_connection()

    yield start
    connection_created.disconnect(celery_app._asynchronous_commit)
    connection.close()


def test_a_worker_set_to_asynchronous_commits_sets_it_on_its_connections(worker_started):
    worker_started(False)
    assert _synchronous_commit() == "off"


def test_by_default_a_worker_commits_synchronously(worker_started):
    worker_started(True)
    assert _synchronous_commit() == "on"
