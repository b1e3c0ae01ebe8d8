"""A worker pays its start-up costs before its first message, not in it."""

from __future__ import annotations

from pathlib import Path

import pytest
from celery.signals import worker_process_init, worker_ready
from django.conf import settings
from django.urls import get_resolver
from django.utils import translation

from notifications import rendering, tasks, transports  # tasks: imported by a worker at start (autodiscovery)


# worker_ready: a thread pool's process; worker_process_init: each child of a prefork pool (the
# `critical` worker), forked before worker_ready is sent.
@pytest.mark.parametrize("signal", [worker_ready, worker_process_init], ids=["worker_ready", "worker_process_init"])
def test_a_ready_worker_has_every_transport_and_every_message_template_loaded(signal):
    assert tasks.send_notification.name  # the module that connects the warm-up is loaded
    rendering._block_maps.clear()
    transports.REGISTRY.clear()
    signal.send(sender=None)
    templates = {
        str(p.relative_to(Path(settings.BASE_DIR) / "templates"))
        for p in Path(settings.BASE_DIR).glob("templates/notifications/*/*.txt")
    }
    assert templates and templates <= set(rendering._block_maps)
    assert {"notifications/es/out_for_delivery.txt", "notifications/fr/delivered.txt"} <= templates
    assert {"twilio", "sendgrid", "fcm", "onesignal", "outbox", "inapp"} <= set(transports.REGISTRY)
    # The URL map each language's messages reverse links in is built already.
    for lang in rendering.LANGUAGES:
        with translation.override(lang):
            assert lang in get_resolver()._reverse_dict
