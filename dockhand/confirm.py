"""A confirmation asked before a disruptive action: what `templates/_confirm.html` shows
in a modal. The action's form lives in the modal, so the button that opens it posts
nothing: dismissed (or without JavaScript, never opened) nothing happens."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Confirm:
    """One modal: its question, the sentence saying what will happen, and its form."""

    key: str  # "stop": the modal is #modal-stop, its confirm button #confirm-stop
    title: str  # "Stop web-frontend?"
    message: str  # what will happen, in one or two sentences
    action: str  # the URL the form posts to
    submit: str  # the confirm button's words
    style: str = "danger"  # the confirm button's Bootstrap colour
    hidden: tuple[tuple[str, str], ...] = ()  # fields posted as they are
    options: tuple[tuple[str, str, bool], ...] = ()  # checkboxes: name, label, ticked at first
    note: str = ""  # a second, quieter line (approval, "cannot be undone")

    @property
    def modal_id(self) -> str:
        return f"modal-{self.key}"
