"""HTTP traffic against a topology's gunicorn: races, replays, and bursts with a fault inside.

Every request is a real HTTP request over a fresh TCP connection. Each answer
keeps the server's ``X-Queries`` header (SQL statements the request ran), so
"refused with 0 SQL" is read from the server, not assumed.
"""

from __future__ import annotations

import http.client
import itertools
import json
import random
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

REASON = re.compile(rb'data-reason="([a-z]+)"')


@dataclass
class Answer:
    status: int
    queries: int | None
    databases: str
    reason: str | None
    at: float  # time.monotonic() when the answer arrived
    sent: float = 0.0  # time.monotonic() when the request was sent

    @property
    def cheap_refusal(self) -> bool:
        """403 without touching the database: the stamp store refused."""
        return self.status == 403 and self.queries == 0


class App:
    """The test views and helpers of one gunicorn, over HTTP."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.url = url

    def request(
        self, method: str, path: str, body: Any = None, cookie: str | None = None
    ) -> tuple[Answer, bytes, http.client.HTTPResponse]:
        sent = time.monotonic()
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        headers = {"Content-Type": "application/json"}
        if cookie:
            headers["Cookie"] = cookie
        try:
            connection.request(method, path, json.dumps(body) if body else None, headers)
            response = connection.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException):
            # The server dropped the connection: counted like a 500 by the callers.
            return Answer(599, None, "", None, time.monotonic(), sent), b"", None  # type: ignore[return-value]
        finally:
            connection.close()
        queries = response.getheader("X-Queries")
        reason = REASON.search(content)
        answer = Answer(
            response.status,
            int(queries) if queries is not None else None,
            response.getheader("X-Databases", ""),
            reason.group(1).decode() if reason else None,
            time.monotonic(),
            sent,
        )
        return answer, content, response

    def post_json(self, path: str, body: Any = None) -> Any:
        answer, content, _ = self.request("POST", path, body or {"uuids": []})
        assert answer.status == 200, (path, answer, content[:500])
        return json.loads(content)

    def issue(self, count: int) -> list[dict[str, str]]:
        return list(self.post_json(f"/topology/issue/?count={count}")["tickets"])

    def use(self, tickets: list[dict[str, str]]) -> None:
        self.post_json("/topology/use/", {"uuids": [t["uuid"] for t in tickets]})

    def revoke(self, tickets: list[dict[str, str]]) -> None:
        revoked = self.post_json("/topology/revoke/", {"uuids": [t["uuid"] for t in tickets]})
        assert all(revoked["revoked"])

    def visits(self, tickets: list[dict[str, str]]) -> dict[str, dict[str, Any]]:
        return dict(self.post_json("/topology/visits/", {"uuids": [t["uuid"] for t in tickets]}))

    def visit(self, ticket: dict[str, str]) -> Answer:
        """One request to the stamped ``race`` view (no redirect): admit, claim, view."""
        return self.request("GET", f"/race/?{urlencode({'ticket': ticket['token']})}")[0]


def together(count: int, work: Callable[[], Any]) -> list[Any]:
    """Run ``work`` in ``count`` threads released at once by a barrier."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def target(index: int) -> None:
        barrier.wait(timeout=30)
        results[index] = work()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results


def race(app: App, ticket: dict[str, str], count: int = 50) -> list[Answer]:
    """``count`` concurrent first uses of one ticket."""
    return together(count, lambda: app.visit(ticket))


# Bursts with a fault inside -------------------------------------------------------------------


@dataclass
class Burst:
    """What happened to every request of a burst, around a fault."""

    fault_at: float = 0.0
    healed_at: float | None = None
    milestones: dict[str, float] = field(default_factory=dict)  # name -> seconds after fault
    ended_at: float = 0.0
    answers: list[tuple[str, str, Answer]] = field(default_factory=list)  # (kind, uuid, answer)
    probes: list[Answer] = field(default_factory=list)
    fresh: list[dict[str, str]] = field(default_factory=list)

    def of(self, kind: str) -> list[Answer]:
        return [answer for k, _, answer in self.answers if k == kind]

    @property
    def recovery(self) -> float:
        """Seconds from the fault until replays were refused with 0 SQL for good.

        The time of the last probe after the fault that was not a 0-SQL refusal
        (0.0 if the fault never showed).
        """
        late = [p.at for p in self.probes if p.at > self.fault_at and not p.cheap_refusal]
        return round(max(late) - self.fault_at, 2) if late else 0.0

    @property
    def healed(self) -> float | None:
        """Seconds from the fault until the topology itself was whole again."""
        return None if self.healed_at is None else round(self.healed_at - self.fault_at, 2)

    def sql_fallbacks(self) -> int:
        """Replays that the database refused because the cache could not."""
        return sum(1 for p in self.probes if p.at > self.fault_at and not p.cheap_refusal)

    def successes(self) -> Counter[str]:
        return Counter(u for k, u, a in self.answers if k == "fresh" and a.status == 200)


def burst(
    app: App,
    *,
    used: list[dict[str, str]],
    revoked: list[dict[str, str]],
    fresh: list[dict[str, str]],
    fault: Callable[[Burst], None],
    healed: Callable[[], bool],
    milestones: dict[str, Callable[[], bool]] | None = None,
    threads: int = 8,
    racers: int = 3,
    warmup: float = 0.5,
    settle: float = 2.0,
    timeout: float = 60.0,
) -> Burst:
    """Replays of used and revoked tickets and races on fresh ones, with ``fault`` inside.

    Workers loop over: a replay of a used ticket, a replay of a revoked ticket,
    and ``racers`` attempts at the next fresh ticket (so several workers race
    on each). ``fault(burst)`` may append fresh tickets to ``burst.fresh``.
    A probe replays one used ticket every 50 ms. The burst ends ``settle``
    seconds after ``healed()`` holds and the probes are all 0-SQL refusals,
    or fails after ``timeout``. ``milestones`` are checks whose first success
    after the fault is timed (e.g. "a new master is named").
    """
    result = Burst(fresh=list(fresh))
    pending: deque[dict[str, str]] = deque(t for t in fresh for _ in range(racers))
    stop = threading.Event()
    lock = threading.Lock()
    picker = random.Random(11)

    def next_job() -> tuple[str, dict[str, str]]:
        with lock:
            step = next(counter)
            if step % 3 == 0 and pending:
                return "fresh", pending.popleft()
            kind = "used" if step % 3 == 1 else "revoked"
            return kind, picker.choice(used if kind == "used" else revoked)

    counter = itertools.count()

    def worker() -> None:
        while not stop.is_set():
            kind, ticket = next_job()
            answer = app.visit(ticket)
            with lock:
                result.answers.append((kind, ticket["uuid"], answer))

    def probe() -> None:
        target = used[0]
        while not stop.is_set():
            answer = app.visit(target)
            with lock:
                result.probes.append(answer)
            time.sleep(0.05)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    workers.append(threading.Thread(target=probe))
    for thread in workers:
        thread.start()
    try:
        time.sleep(warmup)
        result.fault_at = time.monotonic()
        fault(result)
        with lock:
            pending.extend(t for t in result.fresh[len(fresh) :] for _ in range(racers))
        deadline = result.fault_at + timeout
        while time.monotonic() < deadline:
            now = time.monotonic()
            for name, check in (milestones or {}).items():
                if name not in result.milestones and _holds(check):
                    result.milestones[name] = round(time.monotonic() - result.fault_at, 2)
            if result.healed_at is None and _holds(healed):
                result.healed_at = time.monotonic()
            if result.healed_at is not None and now - result.healed_at >= settle:
                with lock:
                    recent = [p for p in result.probes if p.at >= now - settle]
                if recent and all(p.cheap_refusal for p in recent) and not pending:
                    break
            time.sleep(0.05)
        else:
            raise AssertionError(
                f"no recovery within {timeout} s: healed={result.healed}, "
                f"last probes={result.probes[-5:]}"
            )
    finally:
        stop.set()
        for thread in workers:
            thread.join(timeout=60)
    result.ended_at = time.monotonic()
    return result


def _holds(condition: Callable[[], bool]) -> bool:
    """A topology check; a node that does not answer yet means "not yet"."""
    try:
        return bool(condition())
    except Exception:
        return False


def check_burst(
    app: App, result: Burst, *, allowed_errors: Callable[[str, Answer], bool] | None = None
) -> dict[str, Any]:
    """The promises under a fault: nothing used or revoked accepted, exactly once, no 500.

    ``allowed_errors(kind, answer)`` names the 5xx answers that the failure
    policy allows (for a database outage: Django's 500 on requests that need
    the database). Returns the figures of the burst.
    """

    def allowed(kind: str, answer: Answer) -> bool:
        return allowed_errors is not None and allowed_errors(kind, answer)

    answers = [*((k, a) for k, _, a in result.answers), *(("used", p) for p in result.probes)]
    errors = [(k, a) for k, a in answers if a.status >= 500 and not allowed(k, a)]
    assert errors == [], errors[:10]
    for kind in ("used", "revoked"):
        accepted = [a for a in result.of(kind) if a.status == 200]
        assert accepted == [], f"{len(accepted)} {kind} tickets accepted"
    assert all(p.status != 200 for p in result.probes)
    # Exactly once: at most one success per fresh ticket, and the view ran that often.
    successes = result.successes()
    assert max(successes.values(), default=0) <= 1, successes.most_common(3)
    visits = app.visits(result.fresh)
    failed = {u for k, u, a in result.answers if k == "fresh" and a.status >= 500}
    for ticket in result.fresh:
        record = visits[ticket["uuid"]]
        assert record["visits"] <= 1, (ticket["uuid"], record)
        if ticket["uuid"] in failed:
            # A 500 may hide a view that ran: its insert committed, then the
            # connection broke before the answer came back. Never twice.
            assert record["visits"] >= successes[ticket["uuid"]], (ticket["uuid"], record)
        else:
            assert record["visits"] == successes[ticket["uuid"]], (ticket["uuid"], record)
    # Afterwards every fresh ticket that was used is refused, from the cache or the database.
    for ticket in result.fresh:
        if visits[ticket["uuid"]]["used"]:
            assert app.visit(ticket).status == 403
    return {
        "requests": len(result.answers) + len(result.probes),
        "fresh tickets used": sum(successes.values()),
        "replays refused by the database": result.sql_fallbacks(),
        "5xx allowed by the failure policy": sum(1 for _, a in answers if a.status >= 500),
        **{f"{name} after (s)": seconds for name, seconds in result.milestones.items()},
        "topology whole again after (s)": result.healed,
        "0-SQL refusals back after (s)": result.recovery,
    }
