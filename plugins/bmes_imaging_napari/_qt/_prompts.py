"""Questions and notifications shown to the reader (replaceable in tests)."""

from __future__ import annotations

from qtpy.QtWidgets import QMessageBox, QWidget

__all__ = ["ask_save_failed_dialog", "ask_unsaved_dialog", "ask_yes_no_dialog", "notify_error",
           "notify_info"]


def ask_unsaved_dialog(parent: QWidget | None) -> str:
    """Ask what to do with unsaved review work: ``"save"``, ``"discard"`` or ``"cancel"``."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Unsaved review")
    box.setText("This study has unsaved review changes.")
    box.setInformativeText("Save them before closing?")
    box.setStandardButtons(QMessageBox.StandardButton.Save
                           | QMessageBox.StandardButton.Discard
                           | QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Save)
    answer = box.exec()
    if answer == QMessageBox.StandardButton.Save:
        return "save"
    if answer == QMessageBox.StandardButton.Discard:
        return "discard"
    return "cancel"


def ask_save_failed_dialog(parent: QWidget | None, reason: str) -> str:
    """After a failed save: ``"retry"``, ``"elsewhere"`` (save a copy) or ``"cancel"``."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Review not saved")
    box.setText(f"The review was not saved: {reason}")
    box.setInformativeText("It is kept, unsaved. Try again, or save a copy elsewhere?")
    retry = box.addButton("Retry", QMessageBox.ButtonRole.AcceptRole)
    elsewhere = box.addButton("Save a copy elsewhere...", QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(retry)
    box.exec()
    clicked = box.clickedButton()
    if clicked is retry:
        return "retry"
    if clicked is elsewhere:
        return "elsewhere"
    return "cancel"


def ask_yes_no_dialog(parent: QWidget | None, question: str) -> bool:
    """Ask a yes / no question; True for yes."""
    answer = QMessageBox.question(parent, "bmes-imaging", question)
    return answer == QMessageBox.StandardButton.Yes


def notify_error(message: str) -> None:
    """Show an error as a napari notification."""
    from napari.utils.notifications import show_error

    show_error(message)


def notify_info(message: str) -> None:
    """Show information as a napari notification."""
    from napari.utils.notifications import show_info

    show_info(message)
