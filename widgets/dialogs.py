"""Modal screens shared by the panes: confirmation and scrollable detail text."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from services.text import one_line, printable


class ConfirmScreen(ModalScreen[bool]):
    """Ask a yes/no question; dismisses with True only on an explicit yes.

    Args:
        question: Plain text (escaped here), e.g. "Requeue 1,243 jobs?".
        require_text: When set, the user must type this exact text (e.g. a
            symbol before a live order) before "yes" is accepted.
    """

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, require_text: str | None = None) -> None:
        super().__init__()
        self.question = question
        self.require_text = require_text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(escape(printable(self.question)), classes="dialog-question")
            if self.require_text:
                yield Label(f"Type {escape(self.require_text)} to confirm:")
                yield Input(id="confirm-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Yes (y)", id="yes", variant="error")
                yield Button("No (n)", id="no", variant="primary")

    def on_mount(self) -> None:
        if self.require_text:
            self.query_one(Input).focus()
        else:
            self.query_one("#no", Button).focus()

    def _typed_ok(self) -> bool:
        if not self.require_text:
            return True
        return self.query_one(Input).value.strip() == self.require_text

    def action_answer(self, yes: bool) -> None:
        """Dismiss with the answer; "yes" needs the typed text when required."""
        if yes and not self._typed_ok():
            self.notify("Type the text exactly to confirm", severity="warning")
            return
        self.dismiss(yes)

    def on_input_submitted(self) -> None:
        self.action_answer(True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_answer(event.button.id == "yes")


class DetailScreen(ModalScreen[None]):
    """Scrollable plain text (a traceback, a score explanation) with copy.

    Args:
        title: Heading shown above the text.
        body: Plain text from anywhere; it is never parsed as markup.
    """

    BINDINGS = [
        Binding("escape,q", "dismiss", "Close"),
        Binding("c", "copy", "Copy"),
    ]

    def __init__(self, title: str, body: str) -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog detail"):
            yield Label(escape(one_line(self.title_text)), classes="dialog-title")
            with VerticalScroll():
                yield Static(printable(self.body), markup=False, classes="detail-body")

    def action_copy(self) -> None:
        """Copy the text to the clipboard (OSC 52, works over SSH)."""
        self.app.copy_to_clipboard(self.body)
        self.notify("Copied to clipboard")
