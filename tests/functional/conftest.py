"""Fixtures any functional test may ask for, on top of tests/conftest.py's chain.

Only fixtures that nothing else defines live here: a test that does not name them is unaffected. The ledger
tests' overrides of the root chain (``broker``, ``clock``, ``auth``, ``config_overrides``, ``settings`` from
ledger_helpers.py) stay in the modules that want them, since here they would change every functional test.
"""

from __future__ import annotations

from tests.ledger_fixtures import ledger_url, live_server, redis_ledger_url

__all__ = ["ledger_url", "live_server", "redis_ledger_url"]
