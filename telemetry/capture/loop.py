"""The long-running capture process behind `manage.py runcapture`: tail transcripts, replay the spool.

Both steps are at-least-once and idempotent in the store, so a crash or a restart anywhere repeats
work and never loses it. A spool that keeps growing (Redis unreachable for long) is logged once it
passes CAPTURE_SPOOL_WARN_BYTES; it is never trimmed.
"""

import logging
from dataclasses import dataclass

import redis
from django.conf import settings

from ..connections import redis_client
from ..wire import EVENTS_STREAM
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
            tailer=tailer, client=client, home=str(home()), spool_warn_bytes=settings.CAPTURE_SPOOL_WARN_BYTES
        )

    def run_once(self) -> int:
        """One pass: replay the spool, then send new transcript lines. Returns events sent; 0 means idle."""
        self.spool_check()  # first: while Redis is down, the replay below raises
        replayed = spool_replay(self.client, self.home, stream=EVENTS_STREAM, settle_s=self.spool_settle_s)
        return replayed + self.tailer.poll()

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
