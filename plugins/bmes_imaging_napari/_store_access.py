"""The plugin's one way to reach the store: opened lazily, replaceable (tests inject one).

Both the review model and the clinical panel declare ``store = LazyStore()``; an
instance keeps its store in ``_store`` (None until first use, when the default store,
``$BMES_DB``, is opened with :func:`bmes_imaging.store.open_store`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["LazyStore"]


class LazyStore:
    """Descriptor for a ``store`` attribute backed by ``instance._store``: the store,
    opened on first use; assigning replaces it."""

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        if instance._store is None:
            from bmes_imaging.store import open_store

            instance._store = open_store()
        return instance._store

    def __set__(self, instance: Any, value: Any) -> None:
        instance._store = value
