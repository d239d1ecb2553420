"""Names that moved stay importable from their old module, with a ``DeprecationWarning`` naming the new home."""

from __future__ import annotations

import importlib
import warnings
from typing import Any, Callable, Mapping


def moved_names(module: str, moved: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``moved`` (old name → ``"package.module:new_name"`` or ``"package.module"``)."""

    def __getattr__(name: str) -> Any:
        if name not in moved:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        target, _, new = moved[name].partition(":")
        new = new or name
        warnings.warn(f"{module}.{name} moved to {target}.{new}; import it from there", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(target), new)

    return __getattr__
