"""The parser of the commands that read their own options (``run``, ``demo``, ``emulator``):
argparse, with a mistake said as every other command says one."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage mistake is one line on stderr and exit 2, not a
    usage box."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: {message} (see {self.prog} --help)\n")
        sys.exit(2)
