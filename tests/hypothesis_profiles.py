"""Hypothesis profiles: a modest number of examples in `make test`, many in `make test-long`.

Selected by EPIC_EVENTS_HYPOTHESIS_PROFILE (default: "default"); the Makefile's
test-long target sets it to "long". Examples run CLI commands against a real
database, so no deadline: a slow first connection is not a failure.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# The examples of one test share its database (the function-scoped `world`):
# each example uses names and emails of its own.
_SHARED = dict(
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

settings.register_profile("default", max_examples=30, **_SHARED)
settings.register_profile("long", max_examples=500, **_SHARED)
settings.load_profile(os.environ.get("EPIC_EVENTS_HYPOTHESIS_PROFILE") or "default")
