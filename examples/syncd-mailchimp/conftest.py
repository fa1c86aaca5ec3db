"""syncd's own checkout runs these tests as they are, without installing this package: its
folder goes on the path (installed, the package is found there anyway)."""

import sys
from pathlib import Path

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))
