"""The targets of issue 10, as per-round ratios between measures of the same rounds."""

from __future__ import annotations

from dataclasses import dataclass

from .harness import Rounds, Stats
from .spies import Counts

TIMES = "\N{MULTIPLICATION SIGN}"


@dataclass(frozen=True)
class Target:
    """``measure`` ÷ ``baseline`` ≤ ``limit`` (or baseline ÷ measure ≥ limit: a speed-up)."""

    key: str
    title: str
    measure: str
    baseline: str
    baseline_label: str
    limit: float
    speedup: bool = False
    # The forgery-class refusals must also make no SQL statement and no Redis call.
    zero_io: bool = False
    # Printed next to the ratio: the same ratio for a control measure pair.
    control: tuple[str, str] | None = None

    @property
    def condition(self) -> str:
        text = f"≥ {self.limit:g}{TIMES} faster" if self.speedup else f"≤ {self.limit:g}{TIMES}"
        return text + (", 0 SQL, 0 Redis" if self.zero_io else "")


_FIXED_403 = "fixed-403 view, no I/O (hand-written)"
_ONE_GET_403 = "one plain Redis GET + fixed 403 (hand-written)"

TARGETS: list[Target] = [
    Target("flow", "Accept flow (request, redirect, consuming view)", "flow.ticketoffice",
           "flow.handwritten", "the same two views written with the ORM", 0.8),
    Target("replay", "Replayed token → 403", "replay.ticketoffice", "replay.handwritten",
           _ONE_GET_403, 1.0),
    Target("revoked", "Revoked ticket → 403", "revoked.ticketoffice", "replay.handwritten",
           _ONE_GET_403, 1.0),
    Target("forged", "Forged token → 403", "forged.ticketoffice", "refusal.handwritten",
           _FIXED_403, 1.2, zero_io=True),
    Target("truncated", "Truncated token → 403", "truncated.ticketoffice",
           "refusal.handwritten", _FIXED_403, 1.2, zero_io=True),
    Target("wrong_place", "Wrong-place token → 403", "wrong_place.ticketoffice",
           "refusal.handwritten", _FIXED_403, 1.2, zero_io=True),
    Target("expired", "Signed-expired token → 403", "expired.ticketoffice",
           "refusal.handwritten", _FIXED_403, 1.2, zero_io=True),
    Target("verify_use", "In process: verify_token() + use()", "verify_use.ticketoffice",
           "get_user.sesame", "django-sesame one-time get_user()", 0.8),
    Target("authenticate_use", "In process: authenticate(uuid, secret) + use()",
           "authenticate_use.ticketoffice", "get_user.sesame",
           "django-sesame one-time get_user()", 0.8),
    Target("pbkdf2", "In process: verify_token() + use() vs 0.2", "verify_use.ticketoffice",
           "authenticate_use.pbkdf2", "0.2's PBKDF2 check + use()", 300, speedup=True),
    Target("read_token", "read_token()", "read_token.ticketoffice", "unsign.handwritten",
           "one itsdangerous unsign", 1.5),
    Target("flat_verify", "Flat: verify_token() at 10⁶ vs 10³ rows", "scale.verify.big",
           "scale.verify.small", "the same at 10³ rows", 1.2,
           control=("scale.select.big", "scale.select.small")),
    Target("flat_verify_use", "Flat: verify_token() + use() at 10⁶ vs 10³ rows",
           "scale.verify_use.big", "verify_use.ticketoffice", "the same at 10³ rows", 1.2,
           control=("scale.select.big", "scale.select.small")),
]  # fmt: skip


@dataclass
class Outcome:
    """One target, evaluated."""

    target: Target
    ratio: Stats  # per-round ratios (speed-ups for a speed-up target)
    rounds_met: int
    rounds: int
    io_ok: bool
    met: bool
    control: Stats | None = None
    note: str = ""
    # The same ratio with the benchmark thread's waits for a CPU taken out.
    unwaited: Stats | None = None

    def text(self, value: float) -> str:
        if self.target.speedup:
            return f"{value:,.0f}{TIMES} faster"
        return f"{value:.2f}{TIMES}"


def _io_free(counts: Counts | None) -> bool:
    return counts is not None and counts.sql == 0 and counts.redis_sends == 0


def evaluate(target: Target, rounds: Rounds, counts: dict[str, Counts]) -> Outcome:
    """Median and spread of the per-round ratios; met if the median is within the limit."""
    pair = (
        (target.baseline, target.measure) if target.speedup else (target.measure, target.baseline)
    )
    ratios = rounds.ratios(*pair)
    within = [r >= target.limit if target.speedup else r <= target.limit for r in ratios]
    stats = Stats.of(ratios)
    io_ok = _io_free(counts.get(target.measure)) if target.zero_io else True
    median_ok = stats.median >= target.limit if target.speedup else stats.median <= target.limit
    control = Stats.of(rounds.ratios(*target.control)) if target.control else None
    unwaited = Stats.of(rounds.ratios(*pair, unwaited=True)) if rounds.unwaited else None
    return Outcome(
        target, stats, sum(within), len(ratios), io_ok, median_ok and io_ok, control,
        unwaited=unwaited,
    )  # fmt: skip


def evaluate_all(rounds: Rounds, counts: dict[str, Counts]) -> list[Outcome]:
    return [evaluate(target, rounds, counts) for target in TARGETS]


# A/A checks: a measure against an identical copy of itself, timed the same way.
# Their ratios should be 1; their spread is the instrument's own noise.
AA_CHECKS: list[tuple[str, str, str]] = [
    ("Fixed-403 view vs itself (through the test client)", "aa.refusal.handwritten",
     "refusal.handwritten"),
    ("Hand-written check + use vs itself (in process)", "aa.verify_use.handwritten",
     "verify_use.handwritten"),
]  # fmt: skip


def aa_checks(rounds: Rounds) -> list[tuple[str, Stats]]:
    return [(title, Stats.of(rounds.ratios(a, b))) for title, a, b in AA_CHECKS]
