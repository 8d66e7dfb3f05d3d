"""The process's Redis client, built from settings.REDIS_URL (the embedded server or BLUEPLANE_REDIS_URL)."""

from functools import cache

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry


@cache
def redis_client() -> redis.Redis:
    # The socket timeout must exceed the longest XREADGROUP block, or idle reads time out.
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30
    )


@cache
def redis_client_quick() -> redis.Redis:
    """A client for questions a person is waiting on (`blueplane status`, health checks): a Redis that
    does not answer (frozen, overloaded) is reported within a second or two instead of after the
    default client's timeout and its retries."""
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=1.5, socket_connect_timeout=1.5, retry=Retry(NoBackoff(), 0)
    )
