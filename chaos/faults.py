"""The moving parts of a chaos run: the carrier-like sender, beat, the supervisor and the faults."""

from __future__ import annotations

import threading
import time

from chaos import generator
from chaos.processes import RedisServer, Worker


class Sender:
    """Posts the deliveries in plan order at a steady rate from a few threads, retrying like a carrier."""

    def __init__(self, plan: generator.Plan, base_url: str, *, rate: float, threads: int) -> None:
        self.plan, self.base_url, self.rate, self.threads = plan, base_url, rate, threads
        self.answers: dict[int, int] = {}
        self.attempts = 0
        self.retried = 0
        self.sent = 0
        self._next = 0
        self._lock = threading.Lock()

    def progress(self) -> float:
        return self.sent / max(1, len(self.plan.deliveries))

    def _take(self) -> generator.Delivery | None:
        with self._lock:
            if self._next >= len(self.plan.deliveries):
                return None
            delivery = self.plan.deliveries[self._next]
            self._next += 1
            return delivery

    def _post(self, session, delivery: generator.Delivery) -> int:
        import requests

        url = f"{self.base_url}/webhooks/carriers/{delivery.carrier}/"
        code = 0
        for attempt in range(6):  # carriers retry 5xx and silence; a 4xx is final
            with self._lock:
                self.attempts += 1
                self.retried += attempt > 0
            try:
                response = session.post(url, data=delivery.body, headers=generator.sign(delivery), timeout=10)
                code = response.status_code
            except requests.RequestException:
                code = 0
            if code and code < 500 and code != 429:
                return code
            time.sleep(min(4.0, 0.25 * 2**attempt))
        return code

    def run(self) -> None:
        import requests

        start = time.monotonic()

        def loop() -> None:
            session = requests.Session()
            while (delivery := self._take()) is not None:
                pause = start + delivery.seq / self.rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                code = self._post(session, delivery)
                with self._lock:
                    self.answers[delivery.seq] = code
                    self.sent += 1

        workers = [threading.Thread(target=loop, daemon=True) for _ in range(self.threads)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()


class Supervisor(threading.Thread):
    """Production runs workers under a supervisor (systemd Restart=always): so does the harness."""

    def __init__(self, workers: dict[str, Worker]) -> None:
        super().__init__(daemon=True)
        self.workers, self.stopped = workers, threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.5):
            for worker in self.workers.values():
                worker.restart_if_dead()


class Beat(threading.Thread):
    """What celery beat does in production, faster: enqueue both sweepers every few seconds."""

    def __init__(self, every: float) -> None:
        super().__init__(daemon=True)
        self.every, self.stopped, self.sent, self.failed = every, threading.Event(), 0, 0

    def run(self) -> None:
        from carriers.tasks import sweep_carrier_webhooks
        from notifications.tasks import sweep_notifications

        while not self.stopped.wait(self.every):
            for task in (sweep_carrier_webhooks, sweep_notifications):
                try:
                    # Expires like a beat entry should: a sweep stuck behind a backlog is dropped by
                    # the worker, not run late on top of the next one.
                    task.apply_async(retry=False, expires=self.every * 2)
                    self.sent += 1
                except Exception:  # noqa: BLE001 - the broker is down (on purpose): next tick
                    self.failed += 1


def fault_schedule(kills: int, restarts: int) -> list[tuple[float, str]]:
    actions = [f"kill:{('critical', 'default')[k % 2]}" for k in range(kills)] + ["redis"] * restarts
    # Interleave: kills and restarts spread over 15%..80% of the traffic.
    if restarts and kills:
        actions = [f"kill:{('critical', 'default')[k % 2]}" for k in range(kills)]
        for r in range(restarts):
            actions.insert(min(len(actions), (r + 1) * max(1, len(actions) // (restarts + 1)) + r), "redis")
    n = len(actions)
    return [(0.15 + 0.65 * (k / max(1, n - 1) if n > 1 else 0.5), a) for k, a in enumerate(actions)]


def inject_faults(schedule, sender: Sender, workers: dict[str, Worker], redis: RedisServer, log: list) -> None:
    for fraction, action in schedule:
        while sender.progress() < fraction and sender.sent < len(sender.plan.deliveries):
            time.sleep(0.05)
        at = time.monotonic()
        if action.startswith("kill:"):
            worker = workers[action.split(":", 1)[1]]
            worker.kill()
            entry = {"at_progress": round(sender.progress(), 3), "action": f"SIGKILL worker {worker.name}"}
            log.append(entry)
            time.sleep(1.0)
            worker.start()
            # Back in the background: the next fault does not wait for a slow start-up.
            threading.Thread(target=_note_ready, args=(worker, redis.url, entry, at), daemon=True).start()
        else:
            redis.restart(down_seconds=2.0)
            log.append(
                {
                    "at_progress": round(sender.progress(), 3),
                    "action": "redis restarted (SIGKILL, empty)",
                    "back_after_s": round(time.monotonic() - at, 1),
                }
            )


def _note_ready(worker: Worker, broker_url: str, entry: dict, since: float) -> None:
    try:
        worker.wait_ready(broker_url, timeout=120)
        entry["back_after_s"] = round(time.monotonic() - since, 1)
    except RuntimeError as exc:
        entry["error"] = str(exc)


def worker_alive(worker: Worker, broker_url: str) -> bool:
    try:
        worker.wait_ready(broker_url, timeout=30)
        return True
    except RuntimeError:
        return False
