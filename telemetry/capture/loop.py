"""The long-running capture process behind `manage.py runcapture`: tail transcripts, replay the spool,
and every BLUEPLANE_CURSOR_POLL_S seconds read Cursor's databases.

Every step is at-least-once and idempotent in the store, so a crash or a restart anywhere repeats
work and never loses it. The Cursor monitor runs last and on its own: whatever goes wrong in it is
logged and never stops the transcripts or the spool. A spool that keeps growing (Redis unreachable for long) is logged once it
passes CAPTURE_SPOOL_WARN_BYTES; it is never trimmed.
"""

import logging
import time
from dataclasses import dataclass

import redis
from django.conf import settings

from ..connections import redis_client
from ..wire import EVENTS_STREAM
from .cursor_monitor import CursorMonitor
from .runtime import home, offsets_path, privacy_get
from .spool import spool_replay, spool_state
from .tailer import Tailer

logger = logging.getLogger(__name__)


@dataclass
class CaptureLoop:
    tailer: Tailer
    client: redis.Redis
    home: str
    spool_settle_s: float = 2.0
    spool_warn_bytes: int = 64 * 1024 * 1024
    spool_warned: bool = False
    cursor: CursorMonitor | None = None
    cursor_poll_s: float = 2.0
    cursor_next: float = 0.0  # monotonic time of the next Cursor poll
    cursor_failed: str = ""  # the last unexpected error, logged once

    @classmethod
    def from_settings(cls) -> "CaptureLoop":
        client = redis_client()
        tailer = Tailer(
            root=str(settings.CLAUDE_PROJECTS_DIR),
            client=client,
            offsets_path=offsets_path(),
            privacy=privacy_get(),
        )
        return cls(
            tailer=tailer,
            client=client,
            home=str(home()),
            spool_warn_bytes=settings.CAPTURE_SPOOL_WARN_BYTES,
            cursor=CursorMonitor.from_settings(client),
            cursor_poll_s=settings.CURSOR_POLL_S,
        )

    def run_once(self) -> int:
        """One pass: replay the spool, then send new transcript lines. Returns events sent; 0 means idle."""
        self.spool_check()  # first: while Redis is down, the replay below raises
        replayed = spool_replay(self.client, self.home, stream=EVENTS_STREAM, settle_s=self.spool_settle_s)
        return replayed + self.tailer.poll() + self.cursor_poll()

    def cursor_poll(self) -> int:
        """Poll Cursor's databases when it is time. Returns events sent. Redis errors propagate (nothing
        is marked as sent); anything else is a bug in reading Cursor's data: logged once, retried."""
        now = time.monotonic()
        if self.cursor is None or now < self.cursor_next:
            return 0
        self.cursor_next = now + self.cursor_poll_s
        try:
            sent = self.cursor.poll()
        except redis.RedisError:
            raise
        except Exception as exc:
            if repr(exc) != self.cursor_failed:
                logger.exception("cursor: the database monitor failed; retrying on the next poll")
            self.cursor_failed = repr(exc)
            return 0
        self.cursor_failed = ""
        return sent

    def spool_check(self) -> None:
        """Log once when the spool passes its warning size, and once when it is back under it."""
        files, waiting, oldest_s = spool_state(self.home)
        if waiting > self.spool_warn_bytes and not self.spool_warned:
            logger.warning(
                "the hook spool holds %d bytes in %d files (oldest %.0f s ago), over BLUEPLANE_SPOOL_WARN_BYTES"
                " (%d): Redis has been unreachable; nothing is dropped, it is replayed when Redis is back",
                waiting,
                files,
                oldest_s or 0.0,
                self.spool_warn_bytes,
            )
            self.spool_warned = True
        elif waiting <= self.spool_warn_bytes and self.spool_warned:
            logger.info("the hook spool is back under BLUEPLANE_SPOOL_WARN_BYTES (%d bytes waiting)", waiting)
            self.spool_warned = False
