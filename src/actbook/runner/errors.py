"""The runner's error for bad user input, and the one rule for text its messages quote,
importable by every runner module."""

__all__ = ["UsageError", "printable"]


class UsageError(ValueError):
    """Bad user input (command line, profile); the CLI prints it and exits with status 2."""


def printable(text: str) -> str:
    """``text`` with what a terminal would not show as itself escaped as Python writes it:
    a newline in a file name or a control character (one problem stays one line), a lone
    surrogate (which no encoding writes: printing it would raise UnicodeEncodeError)."""
    return text if text.isprintable() else "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
