"""The review's keyboard shortcuts, on public napari API.

Each binding is installed twice: with ``viewer.bind_key`` (active while the canvas has
the focus, as napari's own keys are) and as a ``QShortcut`` on the review dock itself
(active while the focus is inside the dock, e.g. on the findings table after a click).
Text fields keep their keys: typing a name with C, R or N in it is typing. Nothing of
napari's own menus or actions is changed; :meth:`ReviewKeys.release` unbinds the keys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtGui import QKeySequence
from qtpy.QtWidgets import QShortcut, QWidget

__all__ = ["ReviewKeys", "napari_key"]


def napari_key(key: str) -> str:
    """A Qt key string (``"Shift+N"``, ``"Ctrl+Shift+S"``) in napari's spelling
    (``"Shift-N"``, ``"Control-Shift-S"``)."""
    parts = key.split("+")
    mods = {"Ctrl": "Control", "Shift": "Shift", "Alt": "Alt", "Meta": "Meta"}
    return "-".join([*(mods[m] for m in parts[:-1]), parts[-1]])


class ReviewKeys:
    """Bind ``(key, slot)`` pairs on the viewer and on ``widget``; undone by
    :meth:`release`."""

    def __init__(self, viewer: Any, widget: QWidget,
                 bindings: Sequence[tuple[str, Callable[[], Any]]]) -> None:
        self.viewer = viewer
        self.bound: list[tuple[str, Any]] = []
        self.shortcuts: list[QShortcut] = []
        for key, slot in bindings:
            name = napari_key(key)

            def on_key(viewer: Any, slot: Callable[[], Any] = slot) -> None:
                slot()

            previous = viewer.bind_key(name, on_key, overwrite=True)
            self.bound.append((name, previous))
            sc = QShortcut(QKeySequence(key), widget)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(slot)
            self.shortcuts.append(sc)

    def release(self) -> None:
        """Unbind the keys (restoring what was bound before) and drop the shortcuts."""
        for name, previous in self.bound:
            try:
                self.viewer.bind_key(name, previous, overwrite=True)
            except (TypeError, ValueError, KeyError):  # already gone with the viewer
                pass
        self.bound = []
        for sc in self.shortcuts:
            sc.setEnabled(False)
        self.shortcuts = []
