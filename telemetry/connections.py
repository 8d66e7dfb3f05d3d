"""The process's Redis client, built from settings.REDIS_URL (the embedded server or BLUEPLANE_REDIS_URL)."""

from functools import cache

import redis
from django.conf import settings


@cache
def redis_client() -> redis.Redis:
    # The socket timeout must exceed the longest XREADGROUP block, or idle reads time out.
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30
    )
