"""The bottom floor: helpers every babybias module may import (and which import no other babybias module).

* :mod:`~babybias.helpers.io` — atomic text and JSON writes, ``jsonable``;
* :mod:`~babybias.helpers.checks` — ``check_limit`` (None or an integer >= 1);
* :mod:`~babybias.helpers.paths` — the local-path-vs-hub rules (``looks_local``, ``is_hub``, …);
* :mod:`~babybias.helpers.registry` — :class:`Registry`, the one type of every name → object table;
* :mod:`~babybias.helpers.figures` — figures through matplotlib's object API (no global backend);
* :mod:`~babybias.helpers.imports` — importing a user's module or ``.py`` file by name;
* :mod:`~babybias.helpers.deprecation` — moved names that stay importable, with a warning.
"""

from .checks import check_limit
from .deprecation import moved_names
from .figures import new_figure, save_figure
from .imports import UserImportError, import_user_code, is_file_spec
from .io import atomic_write_text, jsonable, write_json
from .paths import FILE_SUFFIXES, is_hub, local_or_hub, looks_local, require_local
from .registry import Registry, UnknownNameError

__all__ = ["check_limit", "moved_names", "new_figure", "save_figure", "UserImportError", "import_user_code", "is_file_spec",
           "atomic_write_text", "jsonable", "write_json", "FILE_SUFFIXES", "is_hub", "local_or_hub", "looks_local",
           "require_local", "Registry", "UnknownNameError"]
