"""`make chaos`: signed carrier traffic with faults, sent to the real stack while it is being broken.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python -m chaos

What it runs (all on loopback, all stopped and cleaned up at the end, also after a failure):
- a scratch PostgreSQL database `oms_chaos_<pid>` on the server of DATABASE_URL (dropped after);
- its own redis-server on a free port (the broker; never the shared one), restarted mid-run;
- gunicorn serving the webhooks with the production settings (CARRIER_PROCESS_INLINE=false:
  202 after the raw row is stored, the critical worker applies it);
- two Celery workers as production runs them: `critical` and `default,bulk` (threads pool);
  one of them is SIGKILLed --kills times and brought back;
- beat's job done by the harness: the two sweepers are enqueued every --sweep-every seconds;
- fake Twilio (SMS) and SendGrid (email) from tests/fakes, failing --error-rate of calls with a
  500 and --timeout-rate with no answer.
Then it waits (bounded) for the queues to drain, runs the oracle (chaos/oracle.py) and writes the
report (markdown and JSON). The exit status is 1 when an invariant fails, 2 when the run broke.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import traceback
from contextlib import ExitStack
from pathlib import Path

from chaos import generator, oracle, report
from chaos.faults import Beat, Sender, Supervisor, fault_schedule, inject_faults, worker_alive
from chaos.processes import (
    ROOT,
    Gunicorn,
    RedisServer,
    Worker,
    process_cpu_seconds,
    scratch_from_template,
    workdir,
)

TWILIO_SID = "AC" + "c" * 32
TWILIO_TOKEN = "chaos-twilio-token"
SENDGRID_KEY = "SG.chaos-key"
STAFF_EMAIL = "ops@chaos.example"


def _settings_env(database_url: str, broker_url: str, twilio_url: str, sendgrid_url: str, args) -> dict:
    """Production settings, scaled down in time so that retries and sweeps fit in the run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARRIER_", "NOTIFY_", "TWILIO_", "SENDGRID_"))}
    env.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "oms_notify.settings",
            "DJANGO_READ_DOT_ENV_FILE": "false",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": "chaos-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "SITE_URL": "https://track.chaos.example",
            "LOG_LEVEL": "WARNING",
            "DATABASE_CONN_MAX_AGE": "60",
            "CELERY_BROKER_URL": broker_url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            # A SIGKILLed worker's unacknowledged messages come back after this; minutes in the run.
            "CELERY_VISIBILITY_TIMEOUT": str(args.visibility_timeout),
            "CARRIER_PROCESS_INLINE": "false",
            "CARRIER_SWEEP_AFTER_SECONDS": str(args.carrier_sweep_after),
            "FIELD_ENCRYPTION_KEY": "y7v0q2G2zQ3xW0c8m1nKxk3yH0rNQ4pUQ0b8X0hVJ2c=",
            "TWILIO_ACCOUNT_SID": TWILIO_SID,
            "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "TWILIO_FROM_NUMBER": "+15017122661",
            "TWILIO_API_BASE_URL": twilio_url,
            "SENDGRID_API_KEY": SENDGRID_KEY,
            "SENDGRID_API_HOST": sendgrid_url,
            "NOTIFY_FROM_EMAIL": "orders@chaos.example",
            "NOTIFY_STAFF_EMAIL": STAFF_EMAIL,
            "NOTIFY_CONNECT_TIMEOUT": "1",
            "NOTIFY_READ_TIMEOUT": str(args.read_timeout),
            "NOTIFY_RETRY_BASE_SECONDS": "1",
            "NOTIFY_RETRY_MAX_SECONDS": "4",
            "NOTIFY_SENDING_STALE_SECONDS": str(args.stale_seconds),
            "NOTIFY_REQUEUE_SECONDS": str(args.requeue_seconds),
            "NOTIFY_POD_WAIT_SECONDS": "5",
            "NOTIFY_STAFF_FIRST_WAIT_SECONDS": "2",
            "NOTIFY_CIRCUIT_OPEN_SECONDS": "3",
        }
    )
    for carrier, secret in generator.SECRETS.items():
        env[f"CARRIER_{carrier.upper()}_WEBHOOK_SECRET"] = secret
    return env


class Recording:
    """Mix-in for a fake: remember every successful answer (what the provider accepted) and when."""

    def respond(self, request):
        reply = super().respond(request)
        if 200 <= reply.status < 300:
            with self._lock:
                self.accepted.append((request, time.monotonic()))
        return reply


def _fakes():
    from tests.fakes.providers import FakeSendGrid, FakeTwilio

    class ChaosTwilio(Recording, FakeTwilio):
        pass

    class ChaosSendGrid(Recording, FakeSendGrid):
        pass

    twilio = ChaosTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN)
    sendgrid = ChaosSendGrid(api_key=SENDGRID_KEY)
    twilio.accepted, sendgrid.accepted = [], []
    return twilio.start(), sendgrid.start()


def _seed(plan: generator.Plan) -> None:
    """Confirmed orders, one registered parcel each, customers who accept SMS and email at any hour."""
    from decimal import Decimal

    from notifications.models import Notification
    from notifications.preferences import preferences_for
    from orders import services
    from orders.models import Customer

    for row in plan.orders:
        i = row["index"]
        order, _ = services.order_create(
            source="chaos",
            external_id=f"CHAOS-{plan.seed}-{i}",
            customer={"name": f"Customer {i}", "email": f"c{i}@chaos.example", "phone": f"+1415555{i:04d}"},
            shipping_address={"line1": f"{i} Main St", "city": "New York", "postcode": "10001", "country": "US"},
            lines=[services.LineIn(sku="S", name="Item", quantity=1, unit_price=Decimal("19.99"))],
            currency="USD",
            inventory_allocated=True,
        )
        Customer.objects.filter(pk=order.customer_id).update(consent_sms=True, consent_email=True)
        prefs = preferences_for(order.customer)
        prefs.quiet_hours_enabled = False
        prefs.save()
        services.order_transition(order=order, transition="confirm", source="chaos")
        services.shipment_create(
            order=order, carrier=row["shipment_carrier"], tracking_number=row["tracking_number"], source="chaos"
        )
        row["order_pk"] = order.pk
    # The set-up's own messages (order confirmed) are not part of the run.
    Notification.objects.all().delete()


def _drained(broker_url: str) -> dict:
    import redis as redis_lib
    from django.db import connection

    from carriers.models import RawWebhook
    from notifications.models import Notification

    S = Notification.Status
    open_statuses = [S.PENDING, S.SCHEDULED, S.SENDING, S.HELD]
    waiting = Notification.objects.filter(status__in=open_statuses).exclude(event="feedback_request").count()
    raws = RawWebhook.objects.filter(status=RawWebhook.Status.RECEIVED).count()
    connection.close()
    try:
        client = redis_lib.Redis.from_url(broker_url, socket_timeout=2)
        queued = sum(client.llen(q) for q in ("critical", "default", "bulk"))
    except Exception:  # noqa: BLE001
        queued = -1
    return {"notifications_open": waiting, "raw_unprocessed": raws, "queued": queued}


def _collect(plan: generator.Plan, twilio, sendgrid) -> dict:
    from django.db import connection

    from carriers.models import RawWebhook
    from notifications.models import Notification
    from orders.models import Shipment, ShipmentEvent

    timeline = list(ShipmentEvent.objects.values_list("shipment__tracking_number", "occurred_at", "status"))
    actual = {
        number: (status, order_status)
        for number, status, order_status in Shipment.objects.values_list("tracking_number", "status", "order__status")
    }
    order_index = {row["order_pk"]: row["index"] for row in plan.orders}
    rows = list(
        Notification.objects.values(
            "id", "public_id", "order_id", "event", "audience", "channel", "provider", "recipient", "body_text",
            "status", "status_reason", "attempts", "error_code",
        )
    )  # fmt: skip
    for row in rows:
        row["order_index"] = order_index.get(row["order_id"])
    raws = list(RawWebhook.objects.values("id", "status", "error", "body"))
    connection.close()
    twilio_ok = [(r.field("To"), r.field("Body"), at) for r, at in twilio.accepted]
    sendgrid_ok = []
    for r, at in sendgrid.accepted:
        doc = r.json
        args = dict(doc.get("custom_args") or {})
        for p in doc.get("personalizations") or []:
            args.update(p.get("custom_args") or {})
        sendgrid_ok.append((args.get("notification", ""), at))
    return {"timeline": timeline, "actual": actual, "rows": rows, "raws": raws, "tw": twilio_ok, "sg": sendgrid_ok}


def _migrate(url: str) -> None:
    """Migrate a database in a child process: this process's Django is set up for another one."""
    import subprocess

    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "oms_notify.settings"}
    env.setdefault("DJANGO_SECRET_KEY", "chaos-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
    env.update(DJANGO_READ_DOT_ENV_FILE="false", DJANGO_DEBUG="false", CELERY_TASK_ALWAYS_EAGER="true")
    env.pop("CELERY_BROKER_URL", None)
    command = [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0", "--skip-checks"]
    subprocess.run(command, cwd=ROOT, env=env, check=True)


def run(args) -> int:
    sys.path.insert(0, str(ROOT / "bench"))
    from scratch import drop_database

    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        print("set DATABASE_URL to the PostgreSQL server to use (a scratch database is made on it)", file=sys.stderr)
        return 2
    started = time.monotonic()
    phases: dict[str, float] = {}
    plan = generator.plan_build(events=args.events, orders=args.orders, seed=args.seed)
    work = workdir()
    name = f"oms_chaos_{os.getpid()}"
    faults_log: list[dict] = []
    figures: dict = {}
    with ExitStack() as stack:
        redis = RedisServer(work)
        redis.start()
        stack.callback(redis.stop)
        twilio, sendgrid = _fakes()
        stack.callback(twilio.stop)
        stack.callback(sendgrid.stop)
        clock = time.monotonic()
        print(f"[chaos] scratch database {name} (from the migrated template), redis on :{redis.port} ...", flush=True)
        scratch_url, built = scratch_from_template(database_url, name, _migrate)
        stack.callback(drop_database, database_url, name)
        env = _settings_env(scratch_url, redis.url, twilio.url, sendgrid.url, args)
        os.environ.clear()
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        stack.callback(connections.close_all)
        call_command("migrate", verbosity=0, skip_checks=True)  # a no-op unless the template lags the code
        phases["database_seconds"] = round(time.monotonic() - clock, 1)
        phases["template_built"] = built
        clock = time.monotonic()
        print(f"[chaos] seeding {args.orders} orders ...", flush=True)
        _seed(plan)
        connections.close_all()
        phases["seed_seconds"] = round(time.monotonic() - clock, 1)
        clock = time.monotonic()
        import redis as redis_lib

        redis_lib.Redis.from_url(redis.url).flushdb()  # the set-up's own tasks

        web = Gunicorn(env, work / "gunicorn.log", workers=args.web_workers, threads=args.web_threads)
        web.start()
        stack.callback(web.stop)
        workers = {
            "critical": Worker("critical", "critical", env, work / "worker-critical.log", concurrency=args.concurrency),
            "default": Worker(
                "default", "default,bulk", env, work / "worker-default.log", concurrency=args.concurrency
            ),
        }
        for worker in workers.values():
            worker.start()
            stack.callback(worker.stop)
        for worker in workers.values():
            worker.wait_ready(redis.url)
        phases["start_seconds"] = round(time.monotonic() - clock, 1)
        for n, fake in enumerate((twilio, sendgrid)):
            fake.fail_randomly(
                error_rate=args.error_rate,
                timeout_rate=args.timeout_rate,
                hang_seconds=args.read_timeout + 1,
                seed=args.seed + n,
            )
        beat = Beat(args.sweep_every)
        beat.start()
        stack.callback(beat.stopped.set)
        supervisor = Supervisor(workers)
        supervisor.start()
        stack.callback(supervisor.stopped.set)

        counts = plan.counts()
        print(f"[chaos] sending {len(plan.deliveries)} webhooks {counts} at {args.rate:.0f}/s ...", flush=True)
        sender = Sender(plan, web.url, rate=args.rate, threads=args.senders)
        schedule = fault_schedule(args.kills, args.redis_restarts)
        fault_errors: list[str] = []

        def faults() -> None:
            try:
                inject_faults(schedule, sender, workers, redis, faults_log)
            except Exception:  # noqa: BLE001 - reported, and the run fails
                fault_errors.append(traceback.format_exc())

        fault_thread = threading.Thread(target=faults, daemon=True)
        send_start = time.monotonic()
        fault_thread.start()
        sender.run()
        send_seconds = time.monotonic() - send_start
        fault_thread.join(timeout=120)
        print(f"[chaos] sent in {send_seconds:.0f} s; faults: {faults_log}; draining ...", flush=True)

        drain_start = time.monotonic()
        deadline = drain_start + args.drain_timeout
        state = _drained(redis.url)
        # Until the database has nothing open, sweeps keep running; then beat stops and the queues
        # empty (expired sweeps are dropped): a drained run ends with both.
        while time.monotonic() < deadline:
            state = _drained(redis.url)
            if state["notifications_open"] == 0 and state["raw_unprocessed"] == 0:
                beat.stopped.set()
                if state["queued"] == 0:
                    break
            time.sleep(1.0)
        drain_seconds = time.monotonic() - drain_start
        time.sleep(0.5)  # answers in flight at the fakes
        figures = {
            **phases,
            "send_seconds": round(send_seconds, 1),
            "drain_seconds": round(drain_seconds, 1),
            "drained": state,
            "worker_cpu_seconds": {
                k: round(process_cpu_seconds(w.process.pid), 1) for k, w in workers.items() if w.process
            },
            "alive_at_end": {k: worker_alive(w, redis.url) for k, w in workers.items()},
            "sender_attempts": sender.attempts,
            "sender_retries": sender.retried,
            "sweeps_enqueued": beat.sent,
            "sweeps_refused_by_broker": beat.failed,
            "provider_calls": {"twilio": len(twilio.requests), "sendgrid": len(sendgrid.requests)},
        }
        beat.stopped.set()
        supervisor.stopped.set()
        if state["notifications_open"] or state["raw_unprocessed"] or state["queued"]:
            # Not drained: stop the workers first, so the rows and the fakes' logs are read at rest
            # (a send landing between the two reads looked like one "not marked sent").
            for worker in workers.values():
                worker.stop()
        data = _collect(plan, twilio, sendgrid)
        # A crash takes its in-flight sends down like a SIGKILL does: both may explain a duplicate.
        kills = [at for w in workers.values() for at in w.kills + [c["at"] for c in w.crashes]]
        crash_at = {w.name: [round(c["at"] - send_start, 1) for c in w.crashes] for w in workers.values()}
        figures["unplanned_worker_exits"] = {k: v for k, v in crash_at.items() if v}

    expected = oracle.expected_statuses(plan)
    statuses = oracle.check_statuses(plan, expected, data["actual"])
    result = {
        "statuses": statuses,
        "parameters": {
            k: getattr(args, k)
            for k in ("events", "orders", "kills", "redis_restarts", "error_rate", "timeout_rate", "seed", "rate")
        },
        "traffic": plan.counts(),
        "faults": faults_log,
        "fault_errors": fault_errors,
        "figures": {**figures, "total_seconds": round(time.monotonic() - started, 1)},
        "http": oracle.check_http(plan, sender.answers),
        "events": oracle.check_events(plan, expected, data["timeline"]),
        "raw_webhooks": oracle.check_raw(plan, data["raws"]),
        "notifications": oracle.check_notifications(
            plan,
            expected,
            data["rows"],
            data["tw"],
            data["sg"],
            kills,
            in_flight_window=args.read_timeout + 3,
            differing={e["order"] for e in statuses["all"]},
        ),
    }
    result["invariants"] = report.invariants(result, kills=len(kills), concurrency=args.concurrency)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "chaos-report.json").write_text(json.dumps(result, indent=2, default=str))
    text = report.markdown(result)
    (out / "chaos-report.md").write_text(text)
    print(text)
    print(f"[chaos] report: {out / 'chaos-report.md'} and chaos-report.json; logs in {work}")
    return 0 if all(i["ok"] for i in result["invariants"]) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000, help="webhook requests in all")
    parser.add_argument("--orders", type=int, default=1_000)
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs of a Celery worker")
    parser.add_argument("--redis-restarts", type=int, default=1)
    parser.add_argument("--error-rate", type=float, default=0.20, help="provider calls answered 500")
    parser.add_argument("--timeout-rate", type=float, default=0.05, help="provider calls never answered")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=float, default=40.0, help="webhooks per second offered")
    parser.add_argument("--senders", type=int, default=4, help="threads posting webhooks")
    parser.add_argument("--concurrency", type=int, default=6, help="threads per Celery worker")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--read-timeout", type=float, default=1.0, help="provider read timeout (s)")
    parser.add_argument("--visibility-timeout", type=int, default=60)
    parser.add_argument("--sweep-every", type=float, default=3.0)
    parser.add_argument("--stale-seconds", type=int, default=30, help="a claimed message is re-taken after this")
    parser.add_argument("--requeue-seconds", type=int, default=30, help="the sweeper re-enqueues after this")
    parser.add_argument(
        "--carrier-sweep-after", type=int, default=30, help="the sweeper processes stored webhooks older than this"
    )
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="max seconds to wait for the queues")
    parser.add_argument("--out", default=str(ROOT / "var" / "chaos"))
    args = parser.parse_args(argv)
    # SIGTERM (a test's timeout, Ctrl-C's cousin) unwinds like an error: every service is stopped,
    # the scratch database dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return run(args)
    except Exception:  # noqa: BLE001 - a broken run is not a pass
        traceback.print_exc()
        return 2
