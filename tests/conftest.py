from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Put back what the migrations make (groups, their permissions, the default brand).

    A transactional test flushes the database when it ends; with --reuse-db the next run would
    otherwise start without them.
    """
    from carriers.groups import grant_carrier_permissions
    from notifications.groups import grant_notification_permissions
    from orders.groups import ensure_groups
    from orders.services import brand_default
    from orders.sources.groups import grant_intake_permissions
    from privacy.groups import grant_privacy_permissions

    with django_db_blocker.unblock():
        ensure_groups()
        grant_carrier_permissions()
        grant_notification_permissions()
        grant_intake_permissions()
        grant_privacy_permissions()
        brand_default()
