"""syncd: pull marketing data from many tools, compute segments centrally, push them back."""

import pluggy

__version__ = "0.1.0"

#: Marks a plugin's hook implementations: ``from syncd import hookimpl``.
hookimpl = pluggy.HookimplMarker("syncd")

__all__ = ["__version__", "hookimpl"]
