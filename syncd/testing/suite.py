"""The suite factory: ``conformance_suite(AcmeHarness)`` is a pytest class holding every
contract test, run on that harness's connector.

    from syncd.testing import conformance_suite

    TestAcmeConformance = conformance_suite(AcmeHarness)
"""

from __future__ import annotations

import pytest

from syncd.testing.contract_faults import FaultContract
from syncd.testing.contract_pull import PullContract
from syncd.testing.contract_push import PushContract
from syncd.testing.contract_secrets import SecretContract
from syncd.testing.harness import Harness

# pytest runs a class's inherited tests base first: the pulls, the faults, the pushes, secrets
CONTRACTS = (SecretContract, PushContract, FaultContract, PullContract)


def conformance_suite(harness: type[Harness], *, name: str | None = None) -> type:
    """A pytest class (named ``name``, default ``Test<Harness>Conformance``) with the
    contract tests for ``harness``; a test the connector or harness cannot take skips, saying
    why."""
    if not (isinstance(harness, type) and issubclass(harness, Harness)):
        raise TypeError(f"conformance_suite takes a Harness subclass, not {harness!r}")
    if not hasattr(harness, "connector"):
        raise TypeError(f"{harness.__name__} names no connector class")
    title = name or f"Test{harness.__name__.removesuffix('Harness')}Conformance"
    return type(
        title,
        CONTRACTS,
        {
            "harness_class": harness,
            "pytestmark": [pytest.mark.syncd_conformance],
            "__doc__": f"The connector contract, on {harness.__name__}.",
            "__module__": harness.__module__,
        },
    )
