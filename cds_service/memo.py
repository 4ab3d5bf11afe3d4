"""Bounded in-memory memos for the repeated work of hook calls: imports no layer, so every layer may use it.

``Lru`` keeps the most recently used entries (caches that must not lose a hot entry: facts, validated
elements). ``Memo`` is cheaper on a hot path: it keeps values computed from objects that live as long as
their knowledge or recommendation, holding those objects beside the value (so an ``id`` in a key is never
reused while its entry lives), and empties itself when full.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Lru(Generic[K, V]):
    """At most ``capacity`` entries; the least recently used goes first (``capacity`` 0 keeps none)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > self.capacity:
            self._entries.popitem(last=False)


class Memo(Generic[V]):
    """``compute()`` once per (objects, key): the value is a function of the ``held`` objects (by identity)
    and of ``key`` (by value) alone; at most ``capacity`` entries, all dropped when full."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: dict[tuple[tuple[int, ...], Hashable], tuple[tuple[object, ...], V]] = {}

    def get(self, held: tuple[object, ...], key: Hashable, compute: Callable[[], V]) -> V:
        ids = tuple(map(id, held))
        entry = self._entries.get((ids, key))
        if entry is not None and all(a is b for a, b in zip(entry[0], held, strict=True)):
            return entry[1]
        value = compute()
        if len(self._entries) >= self.capacity:
            self._entries.clear()
        self._entries[(ids, key)] = (held, value)
        return value
