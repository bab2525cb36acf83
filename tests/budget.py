"""How hard the race, fault and property tests push: small in `make test`, more in `make test-long`.

EPIC_EVENTS_HYPOTHESIS_PROFILE=long (set by `make test-long`) multiplies the
budgets; EPIC_EVENTS_RACE_SECONDS sets the length of each race directly.
"""

from __future__ import annotations

import os

LONG = os.environ.get("EPIC_EVENTS_HYPOTHESIS_PROFILE") == "long"

#: Seconds each race scenario hammers its rows (every worker, together).
RACE_SECONDS = float(os.environ.get("EPIC_EVENTS_RACE_SECONDS") or (10.0 if LONG else 1.0))

#: Concurrent workers (threads, each with its own connection and session) per race.
WORKERS = 12 if LONG else 8
