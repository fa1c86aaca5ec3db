"""Secrets never show: not in a log line, not in an error, not in a change's or a record's
reason, through a pull, a push and a connection check with a wrong credential."""

from __future__ import annotations

import pytest

from syncd.errors import ConnectorError
from syncd.testing.bench import Bench
from syncd.testing.contract_pull import Conformance


class SecretContract(Conformance):
    """What every connector keeps to itself."""

    def test_no_secret_in_logs_or_errors(self, conformance: Bench) -> None:
        bench = conformance
        # every other request fails, so the retries and their errors are said too
        harness = bench.start(wire_fault="5xx", wire_optional=True)
        secrets = bench.secrets()
        if len(secrets) < 2:  # the wrong credential alone
            pytest.skip("the connector has no secret option and the harness names no secret")
        refused: BaseException | None = None
        with bench.said.watch():
            connector = bench.connector()
            if connector.streams():
                bench.pull(bench.store(), connector)
            if connector.destination() is not None:
                try:
                    changes = harness.changes()
                except NotImplementedError:
                    changes = []
                if changes:
                    bench.push(changes, connector, rounds=3)
            try:
                bench.connector(harness.wrong_options()).check_connection()
            except Exception as exc:
                refused = exc
                bench.said.error(exc)
        found = bench.said.showing(secrets)
        assert not found, f"a secret shows in {len(found)} log lines or errors, e.g.:\n" + (
            "\n".join(found[:3])
        )
        assert isinstance(refused, ConnectorError), (
            "check_connection() with a wrong credential raised no ConnectorError"
            + (f" but {type(refused).__name__}: {refused}" if refused else "")
        )
