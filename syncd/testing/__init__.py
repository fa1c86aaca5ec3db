"""Helpers for testing a connector, shared by the built-in ones and open to third parties."""

from syncd.testing.rounds import pull, push_until_done
from syncd.testing.routing import route_to_emulators

__all__ = ["pull", "push_until_done", "route_to_emulators"]
