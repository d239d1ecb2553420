"""One registry type for every name → object table (benchmarks, recipes, presets, composites, …).

A :class:`Registry` is a read-only mapping with ``register``: ``registry["name"]``, ``"name" in
registry``, ``sorted(registry)`` and ``registry.names()`` work as on a dict, and an unknown name is
one line naming the table and what it holds::

    >>> from babybias.helpers import Registry
    >>> colours = Registry("colour")
    >>> colours.register((1.0, 0.0, 0.0), "red")
    >>> colours["red"]
    (1.0, 0.0, 0.0)
    >>> colours["blue"]
    Traceback (most recent call last):
    ...
    babybias.helpers.registry.UnknownNameError: unknown colour 'blue'; registered: red

The tables that used to be dicts keep their dict-style writes (``table[name] = obj``, ``del table[name]``,
``table.pop(name)``) for old code, with a ``DeprecationWarning``: call ``register`` / ``unregister``.

``fresh=True`` hands out a deep copy of the registered object (or calls a registered zero-argument
factory) on every lookup, so a caller that changes what it got changes nothing for the next one.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")

__all__ = ["Registry", "UnknownNameError"]


def _deprecated_write(registry: "Registry", written: str, instead: str) -> None:
    """Warn that a dict-style write (``written``) of a registry is deprecated (``stacklevel``: the caller's line)."""
    warnings.warn(f"writing the {registry.what} registry as a dict ({written}) is deprecated; call {instead}",
                  DeprecationWarning, stacklevel=3)


class UnknownNameError(KeyError):
    """No entry of that name; ``str()`` is the plain message (no KeyError quotes)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry(Mapping, Generic[T]):
    """Name → object. ``what`` names an entry in messages ("benchmark", "recipe"); ``kind`` (a type or
    tuple of types) is what may be registered; ``hint`` ends the unknown-name message; ``error`` is the
    exception raised for an unknown name (a :class:`KeyError` subclass)."""

    def __init__(self, what: str, entries: Mapping[str, T] | None = None, *, kind: type | tuple[type, ...] | None = None,
                 fresh: bool = False, hint: str = "", error: type[KeyError] = UnknownNameError) -> None:
        self.what, self.kind, self.fresh, self.hint, self.error = what, kind, fresh, hint, error
        self._entries: dict[str, Callable[[], T] | T] = {}
        for name, obj in (entries or {}).items():
            self.register(obj, name)

    def register(self, obj: T | Callable[[], T], name: str | None = None, *, overwrite: bool = False) -> None:
        """Add ``obj`` (with ``fresh``: or a zero-argument factory of one) under ``name`` (default: its ``name``)."""
        factory = self.fresh and callable(obj) and not (self.kind is not None and isinstance(obj, self.kind))
        sample = obj() if factory else obj
        if self.kind is not None and not isinstance(sample, self.kind):
            kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
            raise TypeError(f"register() takes a {' or '.join(k.__name__ for k in kinds)}"
                            f"{' or a factory returning one' if self.fresh else ''}, got {type(sample).__name__}")
        name = name or getattr(sample, "name", None)
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.what} needs a name: pass name= or give it a .name")
        if name in self._entries and not overwrite:
            raise ValueError(f"a {self.what} named {name!r} is already registered (pass overwrite=True to replace it)")
        if self.fresh and not factory:
            template = copy.deepcopy(obj)
            self._entries[name] = lambda: copy.deepcopy(template)
        else:
            self._entries[name] = obj

    def unregister(self, name: str) -> None:
        """Remove ``name`` (an unknown name raises the registry's error)."""
        self[name]
        del self._entries[name]

    def __getitem__(self, name: str) -> T:
        if name not in self._entries:
            raise self.error(f"unknown {self.what} {name!r}; registered: {', '.join(sorted(self._entries)) or 'none'}"
                             f"{self.hint}")
        entry = self._entries[name]
        return entry() if self.fresh else entry  # type: ignore[operator,return-value]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    # the tables that were dicts keep their dict-style writes, deprecated: use register / unregister
    def __setitem__(self, name: str, obj: T) -> None:
        _deprecated_write(self, f"registry[{name!r}] = ...", f"register(obj, {name!r}, overwrite=True)")
        self.register(obj, name, overwrite=True)

    def __delitem__(self, name: str) -> None:
        _deprecated_write(self, f"del registry[{name!r}]", f"unregister({name!r})")
        self.unregister(name)

    def pop(self, name: str, *default: T) -> T:
        """Deprecated: :meth:`unregister` (returns the entry, or ``default`` when there is none)."""
        _deprecated_write(self, f"registry.pop({name!r})", f"unregister({name!r})")
        if name not in self._entries and default:
            return default[0]
        obj = self[name]
        self.unregister(name)
        return obj

    def __repr__(self) -> str:
        return f"Registry({self.what!r}: {', '.join(self.names())})"

