from __future__ import annotations

import pytest

# The loopback provider fakes (official SDKs against the vendors' wire formats).
from tests.notifications.conftest import sendgrid, twilio  # noqa: F401


@pytest.fixture(autouse=True)
def _privacy_permissions(db):
    """What migration privacy 0002 grants; a transactional test elsewhere may have flushed it."""
    from privacy.groups import grant_privacy_permissions
    from tests.factories import group

    group("Supervisors")
    grant_privacy_permissions()
