"""Log records and printed text from worker processes, relayed to the caller.

In a worker, :func:`start` routes what the running batch prints (``sys.stdout`` and
``sys.stderr``) and logs (records reaching the root logger) into a list of this thread's
own, and :func:`stop` returns it; the list travels back in the batch's result, and the
caller replays it (:func:`replay`) into its own streams and logging handlers, which may
be a Jupyter cell's. The routing is installed once per process and is per thread, so a
worker running several batches at once (a dask worker) keeps them apart.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from typing import Any, TextIO

from parjob.warn import warn_user

#: what a batch relays: ("stdout" | "stderr", text), ("log", LogRecord) or
#: ("warning", (category, text)) for the caller to warn
Relayed = list[tuple[str, Any]]


class _Capture(threading.local):
    items: Relayed | None = None
    logs = False
    output = False


_capture = _Capture()
_installed_lock = threading.Lock()
_handler: _RelayHandler | None = None
_where = ""


class _RoutedStream:
    """Stands in for ``sys.stdout``/``sys.stderr``: a capturing thread's text is kept,
    everyone else's goes to the stream it replaced."""

    def __init__(self, kind: str, target: TextIO) -> None:
        self._kind = kind
        self._target = target

    def write(self, text: str) -> int:
        capture = _capture
        if capture.items is not None and capture.output:
            items = capture.items
            if items and items[-1][0] == self._kind:
                items[-1] = (self._kind, items[-1][1] + text)
            else:
                items.append((self._kind, text))
            return len(text)
        return self._target.write(text)

    def flush(self) -> None:
        if _capture.items is None:
            self._target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


class _RelayHandler(logging.Handler):
    """On the root logger of a worker: keeps a capturing thread's records."""

    def emit(self, record: logging.LogRecord) -> None:
        capture = _capture
        if capture.items is None or not capture.logs:
            return
        try:
            # as QueueHandler does: the message rendered, so the record pickles
            message = record.getMessage()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            copy = logging.makeLogRecord(record.__dict__)
            copy.msg, copy.args, copy.exc_info = message, None, None
            copy.parjob_worker = _where
            capture.items.append(("log", copy))
        except Exception:
            self.handleError(record)


def _install() -> None:
    """Route this process's streams and root logger through the capture (idempotent, and
    checked at every batch: a test harness or a fork may have put other streams in place)."""
    global _handler, _where
    root = logging.getLogger()
    if (
        isinstance(sys.stdout, _RoutedStream)
        and isinstance(sys.stderr, _RoutedStream)
        and _handler in root.handlers
    ):
        return
    with _installed_lock:
        _where = f"{socket.gethostname()}:{os.getpid()}"
        if not isinstance(sys.stdout, _RoutedStream):
            sys.stdout = _RoutedStream("stdout", sys.stdout)  # type: ignore[assignment]
        if not isinstance(sys.stderr, _RoutedStream):
            sys.stderr = _RoutedStream("stderr", sys.stderr)  # type: ignore[assignment]
        if _handler is None:
            _handler = _RelayHandler()
        if _handler not in root.handlers:
            root.addHandler(_handler)


def start(logs: bool, output: bool, level: int) -> Any:
    """In a worker: keep what this thread logs (at ``level`` and above) and prints."""
    if not (logs or output):
        return None
    _install()
    capture = _capture
    capture.items, capture.logs, capture.output = [], logs, output
    root = logging.getLogger()
    saved_level = root.level
    if logs and level < root.getEffectiveLevel():
        root.setLevel(level)
    return saved_level


def stop(saved_level: Any) -> Relayed | None:
    """End :func:`start`: what this thread printed and logged meanwhile (None if nothing)."""
    capture = _capture
    items, capture.items = capture.items, None
    if saved_level is not None and capture.logs:
        logging.getLogger().setLevel(saved_level)
    return items or None


def replay(items: Relayed) -> None:
    """In the caller: write relayed text to its streams, hand records to its loggers."""
    for kind, payload in items:
        if kind == "warning":  # one the worker side raises for the caller: (category, text)
            warn_user(payload[1], payload[0])
        elif kind == "log":
            logger = logging.getLogger(payload.name)
            if logger.isEnabledFor(payload.levelno):
                logger.handle(payload)
        else:
            stream = sys.stdout if kind == "stdout" else sys.stderr
            stream.write(payload)
