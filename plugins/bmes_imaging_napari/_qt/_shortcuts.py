"""Window-wide keyboard shortcuts of the review (plain keys, plus Ctrl+S taken over).

Plain-letter shortcuts fire anywhere in the viewer window except while typing in a text
field (line edits accept the key instead). Ctrl+S is napari's "Save Selected Layers";
while the review widget is docked it saves the review, and napari's binding is given
back when the widget closes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtGui import QKeySequence
from qtpy.QtWidgets import QShortcut, QWidget

__all__ = ["WindowShortcuts"]


class WindowShortcuts:
    """Install ``(key, slot)`` bindings on a window; :meth:`release` undoes them."""

    def __init__(self, window: QWidget, bindings: Sequence[tuple[str, Callable[[], Any]]]
                 ) -> None:
        self.freed: list[tuple[Any, list[QKeySequence]]] = []
        # napari's menu actions bound to the same modified keys (Ctrl+S) would make
        # the shortcut ambiguous: take the keys off them while the review is docked
        combos = [QKeySequence(key) for key, _ in bindings if "+" in key]
        actions = {id(a): a for w in (window, *window.findChildren(QWidget))
                   for a in w.actions()}
        for action in actions.values():
            keys = action.shortcuts()
            if any(k in combos for k in keys):
                self.freed.append((action, keys))
                action.setShortcuts([k for k in keys if k not in combos])
        self.shortcuts: list[QShortcut] = []
        for key, slot in bindings:
            sc = QShortcut(QKeySequence(key), window)
            sc.setContext(Qt.ShortcutContext.WindowShortcut)
            sc.activated.connect(slot)
            self.shortcuts.append(sc)

    def release(self) -> None:
        """Remove the shortcuts and give napari's actions their keys back."""
        for sc in self.shortcuts:
            sc.setEnabled(False)
            sc.setParent(None)  # type: ignore[call-overload]
        self.shortcuts = []
        for action, keys in self.freed:
            action.setShortcuts(keys)
        self.freed = []
