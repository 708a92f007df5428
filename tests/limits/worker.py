"""A separate process using limits, writing what happened to its own record file.

python -m tests.limits.worker MODE NAME RECORD START END [HOLD LEASE]
  rate: rate_limit(NAME) until END; a line "grant T" per grant (T: the time the store decided at)
  hold: concurrency(NAME) for HOLD seconds each, until END; "start T" / "end T" lines
  once: concurrency(NAME) once, for HOLD seconds (or until killed)
Every mode waits until START (seconds since the epoch) so that all workers begin together.
"""

from __future__ import annotations

import sys
import time

from runnel import runtime
from runnel.clock import Clock
from runnel.concurrency.sync import concurrency, rate_limit


class RecordingClock(Clock):
    """Real time, remembering the last ``now()``: the time a granted acquire was decided at."""

    last = 0.0

    def now(self) -> float:
        self.last = time.time()
        return self.last


def main(mode: str, name: str, record: str, start: float, end: float, *rest: str) -> None:
    clock = RecordingClock()
    runtime.use_clock(clock)
    hold = float(rest[0]) if rest else 0.0
    lease = float(rest[1]) if len(rest) > 1 else 300.0
    time.sleep(max(0.0, start - time.time()))
    with open(record, "a", buffering=1) as out:
        out.write(f"ready {time.time()}\n")
        while time.time() < end:
            if mode == "rate":
                rate_limit(name)
                out.write(f"grant {clock.last}\n")
                continue
            with concurrency(name, lease_duration=lease):
                out.write(f"start {time.time()}\n")
                time.sleep(hold)
                out.write(f"end {time.time()}\n")
            if mode == "once":
                break


if __name__ == "__main__":
    main(
        sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]), *sys.argv[6:]
    )
