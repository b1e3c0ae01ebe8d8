"""The tracking page in a real browser: Debian's chromium driven by Playwright's sync API.

The app runs in its own process (runserver against the test database) because Playwright's sync
API keeps an event loop running in this thread; the test's own ORM set-up and checks are plain
synchronous code, so DJANGO_ALLOW_ASYNC_UNSAFE is set for this process only.
Screenshots (mobile and desktop) are saved under var/test-artifacts/tracking/.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection

from orders.tracking.models import DeliveryFeedback, DeliveryPreference
from tests.tracking.helpers import order_at

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "test-artifacts" / "tracking"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
GENERIC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MOBILE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

if not os.path.exists(CHROMIUM):  # pragma: no cover - `make test` installs it
    if os.environ.get("CI"):
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium", pytrace=False)
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_app(transactional_db, tmp_path, monkeypatch):
    """runserver in its own process, on the test database, polling every second."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    db = connection.settings_dict
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
        f"{db['NAME']}",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "CARRIER_PROCESS_INLINE": "true",
        "CARRIER_GENERIC_WEBHOOK_SECRET": GENERIC_SECRET,
        "TRACKING_POLL_SECONDS": "1",
        "DJANGO_MEDIA_ROOT": str(tmp_path / "media"),
        "LOG_LEVEL": "WARNING",
        # Plain http on loopback: a Secure CSRF cookie would never come back from the browser.
        "DJANGO_SECURE_COOKIES": "false",
    }
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert server.poll() is None, log_path.read_text()
            try:
                urllib.request.urlopen(f"{base}/track/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("server did not start:\n" + log_path.read_text())
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture
def browser():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_the_page_at_each_milestone_on_mobile_and_desktop(live_app, browser, make_order):
    stages = ["confirmed", "dispatched", "in_transit", "out_for_delivery", "delayed", "delivered"]
    orders = {stage: order_at(stage, make_order=make_order) for stage in stages}
    expected = {
        "confirmed": "Your order is confirmed",
        "dispatched": "Your order has left our warehouse",
        "in_transit": "Your order is on its way",
        "out_for_delivery": "Your order is out for delivery today",
        "delayed": "Your order is delayed",
        "delivered": "Your order was delivered",
    }
    for label, viewport in (("mobile", MOBILE), ("desktop", DESKTOP)):
        context = browser.new_context(viewport=viewport, locale="en-US")
        page = context.new_page()
        for stage, order in orders.items():
            page.goto(f"{live_app}/t/{order.tracking_token}/")
            assert page.locator("h1#headline").inner_text() == expected[stage]
            _shot(page, f"{stage}-{label}")
        context.close()
    # Keyboard: the first Tab reaches the skip link, which leads to the main content.
    page = browser.new_page()
    page.goto(f"{live_app}/t/{orders['in_transit'].tracking_token}/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"


def _generic_webhook(base: str, body: bytes) -> int:
    from carriers.adapters import generic

    timestamp = int(time.time())
    msg_id = f"msg_{timestamp}_{len(body)}"
    request = urllib.request.Request(
        f"{base}/webhooks/carriers/generic/",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": generic.sign(GENERIC_SECRET, msg_id, timestamp, body),
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def test_a_carrier_webhook_appears_on_the_open_page_without_reload(live_app, browser, make_order):
    order = order_at("in_transit", make_order=make_order)
    shipment = order.shipments.get()
    page = browser.new_page(viewport=MOBILE)
    page.goto(f"{live_app}/t/{order.tracking_token}/")
    page.evaluate("window.__sameDocument = true")
    body = json.dumps(
        {
            "events": [
                {
                    "tracking_number": shipment.tracking_number,
                    "status": "out_for_delivery",
                    "occurred_at": datetime.now(UTC).isoformat(),
                    "description": "With the driver <script>window.__pwned=1</script>",
                    "location": {"city": "Springfield", "country": "US"},
                }
            ]
        }
    ).encode()
    assert _generic_webhook(live_app, body) in (200, 202)
    new_event = page.locator("li.event--new")
    new_event.wait_for(timeout=10_000)
    assert "With the driver <script>" in new_event.inner_text()
    assert page.locator("h1#headline").inner_text() == "Your order is out for delivery today"
    assert page.evaluate("window.__sameDocument === true && window.__pwned === undefined")
    _shot(page, "live-update-mobile")


def test_the_feedback_form(live_app, browser, make_order):
    order = order_at("delivered", make_order=make_order)
    page = browser.new_page(viewport=MOBILE)
    page.goto(f"{live_app}/t/{order.tracking_token}/")
    page.get_by_role("link", name="Tell us how it went").click()
    page.get_by_label("Yes").check()
    page.locator("input[name=score][value='2']").check()
    page.get_by_label("Comment (optional)").fill("Box was crushed")
    _shot(page, "feedback-form-mobile")
    page.get_by_role("button", name="Send").click()
    page.locator("#feedback-thanks").wait_for()
    _shot(page, "feedback-thanks-mobile")
    feedback = DeliveryFeedback.objects.get(order=order)
    assert (feedback.score, feedback.comment, feedback.needs_support) == (2, "Box was crushed", True)


def test_delivery_instructions_and_rescheduling(live_app, browser, make_order):
    order = order_at("in_transit", make_order=make_order)
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{live_app}/t/{order.tracking_token}/")
    page.locator("#id_ins-safe_place").select_option("neighbour")
    page.locator("#id_ins-instructions").fill("Number 12, blue door")
    page.get_by_role("button", name="Save instructions").click()
    page.locator("#saved").wait_for()
    page.locator("#id_rs-day").select_option(index=1)
    page.locator("#id_rs-window").select_option("17:00-21:00")
    page.get_by_role("button", name="Reschedule").click()
    page.locator("#rescheduled").wait_for()
    _shot(page, "delivery-options-desktop")
    preference = DeliveryPreference.objects.get(order=order)
    assert (preference.safe_place, preference.instructions) == ("neighbour", "Number 12, blue door")
    assert preference.reschedule_window == "17:00-21:00" and preference.reschedule_date is not None


def test_the_lookup_form(live_app, browser, make_order):
    order = order_at("out_for_delivery", make_order=make_order)
    page = browser.new_page(viewport=MOBILE)
    page.goto(f"{live_app}/track/")
    page.get_by_label("Order number").fill(order.number)
    page.get_by_label("Email or postcode").fill("wrong@example.com")
    page.get_by_role("button", name="Find my order").click()
    page.locator("#lookup-error").wait_for()
    _shot(page, "lookup-error-mobile")
    page.get_by_label("Email or postcode").fill("12345")
    page.get_by_role("button", name="Find my order").click()
    page.locator("h1#headline").wait_for()
    assert page.locator("h1#headline").inner_text() == "Your order is out for delivery today"
