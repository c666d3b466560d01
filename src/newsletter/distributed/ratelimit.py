"""``[delivery] rate`` for the whole fleet: one schedule of send times shared through Redis.

Each message takes the next free moment from one Redis key, in one atomic script (GCRA, the
generic cell rate algorithm): moment = max(Redis's clock, the key), and the key moves on by
``1 / rate`` seconds. The caller sleeps until its moment, then sends. So message n of the
whole fleet starts no earlier than n / rate, however many workers and pool processes send,
exactly as ``delivery.send`` paces one process; the clock is Redis's, so workers' clocks may
differ.

Why not the ``limits`` package: its windows are whole seconds (a rate of 20/s is "20 per
second window"), so every window opens with a burst of ``rate`` messages at once; even
spacing is what the single-process limiter has always promised and what mail servers'
per-connection throttles expect. The script is eight lines on redis-py's ``register_script``
(EVALSHA, reloaded when Redis restarts).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

# KEYS[1]: the schedule; ARGV[1]: microseconds per message. Returns microseconds to wait.
_NEXT_MOMENT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local moment = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
local after = moment + tonumber(ARGV[1])
local keep = math.floor((after - now) / 1000) + 60000
redis.call('SET', KEYS[1], string.format('%d', after), 'PX', keep)
return moment - now
"""


def schedule_key(queue_name: str) -> str:
    return f"newsletter:send-rate:{queue_name}"


class FleetThrottle:
    """``delivery.send.Throttle`` over Redis: ``wait()`` returns at this message's moment."""

    def __init__(
        self,
        client: Any,
        key: str,
        rate: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._next = client.register_script(_NEXT_MOMENT)
        self._key = key
        self._interval = max(1, round(1_000_000 / rate))
        self._sleep = sleep

    def close(self) -> None:
        self._client.close()

    def wait(self) -> None:
        delay = int(self._next(keys=[self._key], args=[self._interval]))
        if delay > 0:
            self._sleep(delay / 1_000_000)


def fleet_throttle(broker: str, queue_name: str, rate: float) -> FleetThrottle:
    import redis

    client = redis.Redis.from_url(broker, socket_timeout=10, socket_connect_timeout=10)
    return FleetThrottle(client, schedule_key(queue_name), rate)
