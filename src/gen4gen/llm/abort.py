"""Interrupting remote calls: the command line's Ctrl-C (and SIGTERM) handler calls :func:`abort_requests`, and
every wait of the chat client (a request in flight, a retry's backoff, the rate limiter) ends within a tenth of a
second, so the threads of a batch do not keep the process alive. Importing this module costs nothing."""

from __future__ import annotations

import threading

ABORTED = threading.Event()
POLL_S = 0.1  # how often a waiting request looks at ABORTED


def abort_requests() -> None:
    """Make every chat request in flight or waiting give up now (and every new one until :func:`reset`)."""
    ABORTED.set()


def reset() -> None:
    """Allow requests again (a new command in the same process)."""
    ABORTED.clear()


def aborted() -> bool:
    return ABORTED.is_set()
