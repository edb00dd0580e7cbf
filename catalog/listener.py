"""One PostgreSQL LISTEN connection per process, shared by everyone in it who waits on a channel's payloads.

The catalog NOTIFYs at commit (``catalog.notifications`` with the user id as payload), so every API process,
each with its own listener, hears every commit: an app open against one process sees a like made through
another. A listener is a thread with its own connection (outside the pool: LISTEN holds it), started by the
first subscriber and stopped after ``idle_stop_s`` without any, so an idle process holds no connection.

A NOTIFY is only a wake-up call: subscribers read what is new from the table by id. A notification sent while
the connection was being re-made is therefore late, never lost: on reconnecting the listener wakes everyone,
and readers also re-read on their own now and then (``listening`` says when they must rely on that alone).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from sqlalchemy.engine import make_url

log = logging.getLogger("catalog.listener")

RECONNECT_S = 1.0
POLL_S = 1.0  # how often the thread looks up from the socket (to stop when idle)


def libpq_url(sqlalchemy_url: str) -> str:
    """``postgresql+psycopg://...`` (SQLAlchemy's) as libpq takes it."""
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(eq=False)
class Subscription:
    key: str
    wake: Callable[[], None]  # called from the listener's thread: must only hand over (e.g. call_soon_threadsafe)


@dataclass
class Listener:
    dsn: str
    channel: str
    idle_stop_s: float = 30.0
    listening: bool = False
    _subs: dict[str, set[Subscription]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def subscribe(self, key: str, wake: Callable[[], None]) -> Subscription:
        sub = Subscription(key, wake)
        with self._lock:
            self._subs.setdefault(key, set()).add(sub)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=f"listen-{self.channel}", daemon=True)
                self._thread.start()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            subs = self._subs.get(sub.key)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[sub.key]

    def _wake(self, key: str | None) -> None:
        with self._lock:
            subs = [s for k, group in self._subs.items() if key is None or k == key for s in group]
        for sub in subs:
            try:
                sub.wake()
            except Exception:  # noqa: BLE001 - a closed event loop of one subscriber must not stop the others
                log.debug("could not wake a subscriber of %s", sub.key, exc_info=True)

    def _idle(self) -> bool:
        with self._lock:
            return not self._subs

    def _run(self) -> None:
        idle_since: float | None = None
        while True:
            try:
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    conn.execute(f'LISTEN "{self.channel}"')
                    self.listening = True
                    self._wake(None)  # whatever committed while nobody listened: everyone re-reads
                    while True:
                        for note in conn.notifies(timeout=POLL_S):
                            self._wake(note.payload)
                        if not self._idle():
                            idle_since = None
                            continue
                        idle_since = idle_since or time.monotonic()
                        with self._lock:  # no subscriber arrived meanwhile: this thread ends
                            if not self._subs and time.monotonic() - idle_since >= self.idle_stop_s:
                                self._thread = None
                                self.listening = False
                                return
            except psycopg.Error as exc:
                self.listening = False
                log.warning("LISTEN %s lost (%s); reconnecting", self.channel, exc)
                time.sleep(RECONNECT_S)
                with self._lock:
                    if not self._subs:
                        self._thread = None
                        return
