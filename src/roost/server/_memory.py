"""Hand the C heap's free pages back to the OS once the server has started.

Importing a few hundred modules and opening the store leaves megabytes of freed-but-kept
``malloc`` memory behind (temporaries of imports, schema building, start-up queries).
glibc only returns the top of its heap on its own; ``malloc_trim(0)`` also releases free
pages in the middle, so an idle server shows what it really holds (docs/decisions/0097).
"""

from __future__ import annotations

import sys


def trim_heap() -> bool:
    """``malloc_trim(0)`` on glibc; ``False`` (and nothing done) where it does not exist."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        trim = ctypes.CDLL(None).malloc_trim  # musl and other libcs have none
    except (OSError, AttributeError):
        return False
    trim(0)
    return True
