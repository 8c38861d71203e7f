"""Which SparkSession a call runs on: the user's, an address's, or an embedded local one.

Order: ``spark=`` (a session, classic or Spark Connect); ``remote=`` (a Spark Connect
address, ``"sc://host:port"`` or ``"local[N]"`` for a local Connect server); ``master=``
(a classic master URL: parjob starts a session on it); the active session (classic, or
Spark Connect); else an embedded ``local[N]`` session, N the machine's CPUs. Sessions
parjob starts run with the UI off, errors-only logs, the driver on 127.0.0.1 and the
executors' Python set to this interpreter; they are reused by later calls and stopped at
exit (or by :func:`close`). A session the user started is never stopped by parjob.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parjob.cpu import cpu_count

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_lock = threading.Lock()
#: sessions parjob started, by master URL or Connect address
_owned: dict[str, Any] = {}
_atexit_registered = False
_LOG_CONFIG = Path(__file__).with_name("log4j2.properties")


def is_connect(session: Any) -> bool:
    """Whether ``session`` is a Spark Connect session (no SparkContext, no RDDs)."""
    return type(session).__module__.startswith("pyspark.sql.connect")


def in_executor() -> bool:
    """True inside a Spark task (a Python worker), where no session can be used."""
    if "pyspark" not in sys.modules:
        return False
    from pyspark import TaskContext

    return TaskContext.get() is not None


def java_problem() -> str | None:
    """Why a local Spark JVM cannot start here (no java found), or None."""
    home = os.environ.get("JAVA_HOME")
    if home and os.path.exists(os.path.join(home, "bin", "java")):
        return None
    if shutil.which("java"):
        return None
    return "Spark needs Java (17 or later), and no java is on the PATH nor in JAVA_HOME"


def find_session(spark: Any = None, master: str | None = None, remote: str | None = None) -> Any:
    """The session a call should use (see the module docstring for the order)."""
    if in_executor():
        raise RuntimeError(
            "the spark backend cannot run inside a Spark task (executors have no session); "
            "Parallel calls there use threads on the executor's cores by default"
        )
    if spark is not None:
        if stopped(spark):
            raise ValueError(f"the SparkSession given as spark= is stopped: {spark!r}")
        return spark
    if remote is not None:
        return _owned_session("remote", remote)
    if master is not None:
        return _owned_session("master", master)
    active = active_session()
    if active is not None:
        return active
    return _owned_session("master", f"local[{cpu_count()}]")


def will_start(
    spark: Any = None, master: str | None = None, remote: str | None = None
) -> str | None:
    """The master URL or Connect address :func:`find_session` would start a session on now,
    or None when it would use a session that exists."""
    if spark is not None or in_executor():
        return None
    if remote is not None:
        kind, address = "remote", remote
    elif master is not None:
        kind, address = "master", master
    elif active_session() is not None:
        return None
    else:
        kind, address = "master", f"local[{cpu_count()}]"
    found = _owned.get(f"{kind}:{address}")
    return None if found is not None and not stopped(found) else address


def stopped(session: Any) -> bool:
    """Whether ``session`` was stopped: Spark Connect sessions say so (``is_stopped``); a
    classic one is stopped when its context is no longer the active one."""
    flag = getattr(session, "is_stopped", None)
    if flag is not None:
        return bool(flag)
    from pyspark import SparkContext

    context = getattr(session, "sparkContext", None)
    return context is None or SparkContext._active_spark_context is not context


def active_session() -> Any:
    """The active Spark Connect or classic session of this process, if any."""
    connect = sys.modules.get("pyspark.sql.connect.session")
    if connect is not None:
        cls = connect.SparkSession
        found = cls.getActiveSession() or getattr(cls, "_default_session", None)
        if found is not None and not stopped(found):
            return found
    if "pyspark" not in sys.modules:
        return None
    from pyspark import SparkContext

    sc = SparkContext._active_spark_context
    if sc is None:
        return None
    from pyspark.sql import SparkSession

    return SparkSession.builder.getOrCreate()  # the session of the running context


def _owned_session(kind: str, address: str) -> Any:
    if not isinstance(address, str) or not address:
        raise ValueError(f"{kind}= must be a non-empty str, got {address!r}")
    key = f"{kind}:{address}"
    with _lock:
        found = _owned.get(key)
        if found is not None and not stopped(found):
            return found
        session = _start(kind, address)
        _owned[key] = session
        _register_atexit()
        return session


def _start(kind: str, address: str) -> SparkSession:
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("parjob")
    if kind == "remote":
        builder = builder.remote(address)
    else:
        if _context_running():
            raise RuntimeError(
                f"cannot start a Spark session on master={address!r}: this process already "
                "runs a SparkContext (one per process); pass it as spark= instead"
            )
        builder = builder.master(address)
    local = address.startswith("local")
    for key, value in _quiet_local_settings(local).items():
        builder = builder.config(key, value)
    # The executors' Python workers run PYSPARK_PYTHON (else "python3" on the PATH, which
    # cannot import this environment's packages). The context reads it once, at start.
    with _environ(PYSPARK_PYTHON=os.environ.get("PYSPARK_PYTHON") or sys.executable):
        session = builder.getOrCreate()
    if not is_connect(session):
        session.sparkContext.setLogLevel("ERROR")
    return session


def _context_running() -> bool:
    if "pyspark" not in sys.modules:
        return False
    from pyspark import SparkContext

    return SparkContext._active_spark_context is not None


def _quiet_local_settings(local: bool) -> dict[str, str]:
    settings = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{_LOG_CONFIG}",
        "spark.pyspark.python": os.environ.get("PYSPARK_PYTHON") or sys.executable,
    }
    if local:  # nothing listens beyond this machine
        settings["spark.driver.host"] = "127.0.0.1"
        settings["spark.driver.bindAddress"] = "127.0.0.1"
    return settings


@contextlib.contextmanager
def _environ(**values: str) -> Any:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def local_mode(session: Any) -> bool:
    """Whether the executors run inside this machine's driver (classic ``local[...]``)."""
    if is_connect(session):
        return False
    master = session.sparkContext.master
    return master == "local" or master.startswith("local[")


_LOCAL_RETRIES = re.compile(r"local\[\s*(\d+|\*)\s*,\s*(\d+)\s*\]")


def max_task_failures(session: Any) -> int:
    """How many times Spark may run one task (``spark.task.maxFailures``; in local mode
    the ``F`` of ``local[N,F]``, else 1)."""
    if not is_connect(session):
        master = session.sparkContext.master
        if master == "local" or master.startswith("local["):
            match = _LOCAL_RETRIES.fullmatch(master)
            return int(match.group(2)) if match else 1
    try:
        return int(session.conf.get("spark.task.maxFailures", "4") or 4)
    except Exception:  # not readable here (some Connect servers): Spark's default
        return 4


def slots(session: Any) -> int:
    """Tasks the session can run at once: its default parallelism over ``spark.task.cpus``.

    Read at each call (executors may have joined or left).
    """
    if is_connect(session):
        total = _connect_parallelism(session)
    else:
        total = session.sparkContext.defaultParallelism
    return max(total // task_cpus(session), 1)


def task_cpus(session: Any) -> int:
    """The cores each Spark task takes (``spark.task.cpus``, 1 by default)."""
    try:
        return max(int(session.conf.get("spark.task.cpus", "1") or 1), 1)
    except Exception:
        return 1


_SPLITS = re.compile(r"splits=(\d+)")


def _connect_parallelism(session: Any) -> int:
    # Spark Connect has no SparkContext: a range without a partition count is split into
    # the default parallelism, which its (analysis only, no job) plan shows
    text = session.range(1)._explain_string(extended=False)
    match = _SPLITS.search(text)
    return int(match.group(1)) if match else cpu_count()


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(close)
        _atexit_registered = True


def close() -> None:
    """Stop the sessions parjob started (never the user's)."""
    with _lock:
        while _owned:
            _, session = _owned.popitem()
            with contextlib.suppress(Exception):  # already stopping at interpreter exit
                session.stop()
