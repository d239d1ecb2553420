"""Importing a user's code by name: a module (``pkg.mod``) or a Python file (``path/to/file.py``).

Shared by ``babybias --plugin`` (benchmark plugins) and the sandbox's ``--experiment module:object``.
A spec is a file when it ends in ``.py`` or contains a path separator; anything else is a module
name, imported with ``sys.path`` and then the current folder searched (the console script does not
put the current folder on ``sys.path``).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from .paths import require_local


class UserImportError(ValueError):
    """The named module or file cannot be imported as given (the message says which and why)."""


def is_file_spec(spec: str) -> bool:
    """A spec names a file (not a module) when it ends in ``.py`` or contains a path separator."""
    return spec.endswith(".py") or any(sep in spec for sep in {"/", "\\", os.sep, os.altsep or "/"})


def import_user_code(spec: str, what: str, prefix: str = "babybias_user") -> ModuleType:
    """Import ``spec`` (see the module docstring); ``what`` names it in errors ("plugin", "intervention").

    A missing file raises ``FileNotFoundError``; a folder, or a module that does not exist,
    :class:`UserImportError`. Errors raised by the user's own code while it is imported propagate.
    """
    if is_file_spec(spec):
        path = require_local(spec, f"{what} file")
        if path.is_dir():
            raise UserImportError(f"{what} {spec} is a folder; give a module name or a .py file")
        name = f"{prefix}_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise UserImportError(f"{what} file {spec} cannot be imported (not a Python file?)")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module  # dataclasses look their module up here
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return module
    cwd = str(Path.cwd())
    added = cwd not in sys.path
    if added:
        sys.path.append(cwd)
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as err:
        if err.name is not None and (spec == err.name or spec.startswith(err.name + ".")):
            raise UserImportError(f"{what} module {spec!r} cannot be imported: no module named {err.name!r} "
                                  "(give an importable module name or a .py file path)") from None
        raise
    finally:
        if added:
            sys.path.remove(cwd)
