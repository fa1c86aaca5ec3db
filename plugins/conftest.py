"""What the built-in connectors' tests share: ``clock``, the virtual clock their emulators
run on, and ``vt``, the virtual time their connectors sleep in: syncd's ``syncd_clock`` and
``syncd_time``, so that ``syncd_pipeline`` runs on them too."""

import pytest

from syncd.emulator import ManualClock, VirtualTime


@pytest.fixture
def clock(syncd_clock: ManualClock) -> ManualClock:
    return syncd_clock


@pytest.fixture
def vt(syncd_time: VirtualTime) -> VirtualTime:
    return syncd_time
