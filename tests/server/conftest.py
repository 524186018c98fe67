"""Fixtures of the server tests (helpers live in server_support.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from server_support import fake_openai, processes, redis_name, served

__all__ = ["fake_openai", "processes", "redis_name", "served"]
