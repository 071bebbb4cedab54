"""relayd's log: where lines go and what they look like (``[log]`` in relayd.toml).

* ``format = "text"``: ``2026-12-03T10:25:52.123Z WARNING relay.main: …``; under
  journald (``JOURNAL_STREAM`` set) without the timestamp, which the journal adds, and
  with a ``<N>`` priority prefix so ``journalctl -p warning`` works.
* ``format = "json"``: one object per line, ``{"ts", "level", "logger", "msg"}`` and
  ``"exc"`` with a traceback.
* ``level``: the lowest level written.  ``requests = true`` turns on the access log
  (logger ``relay.access``, one line per HTTP request, see ``request_line``).

Nothing secret goes here: no passwords (the first admin's is written to a file, see
relay.main), no tokens (a request's query, where a browser's stream token travels, is
never logged), no message text, no file names.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import TextIO

from relay.config import LogConfig

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}
ACCESS = logging.getLogger("relay.access")


def _utc(record: logging.LogRecord) -> str:
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z")


class TextFormatter(logging.Formatter):
    """Plain lines: a UTC timestamp first, or under journald a ``<N>`` priority."""

    PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4,
                logging.ERROR: 3, logging.CRITICAL: 2}

    def __init__(self, journal: bool) -> None:
        super().__init__("relayd: %(levelname)s %(name)s: %(message)s")
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        if self.journal:
            prio = self.PRIORITY.get(record.levelno, 6)
            return "\n".join(f"<{prio}>{part}" for part in line.split("\n"))
        return f"{_utc(record)} {line}"


class JSONFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": _utc(record), "level": record.levelname.lower(),
                 "logger": record.name, "msg": record.getMessage()}
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup(cfg: LogConfig = LogConfig(), stream: TextIO | None = None) -> None:
    """Point the root logger at stderr (or ``stream``) as ``cfg`` says (again on
    SIGHUP)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    journal = bool(os.environ.get("JOURNAL_STREAM"))
    handler.setFormatter(JSONFormatter() if cfg.format == "json" else TextFormatter(journal))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS[cfg.level])
    # trio-websocket logs every frame at DEBUG and routine closes at INFO.
    logging.getLogger("trio-websocket").setLevel(logging.WARNING)


def request_line(zone: str, method: str, path: str, status: int, seconds: float) -> None:
    """The access log's line for one request (the app calls it when ``[log] requests``
    is on)."""
    ACCESS.info("%s %s %s %d %.1f ms", zone, method, path, status, seconds * 1000)
