"""Real servers on loopback for the eval tests (the server tests' helpers)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "server"))

from server_support import served

__all__ = ["served"]
