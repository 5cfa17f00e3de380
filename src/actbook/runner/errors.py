"""The runner's error for bad user input, and the one rule for text its messages quote,
importable by every runner module."""

import sys

__all__ = ["UsageError", "printable", "to_stderr"]


class UsageError(ValueError):
    """Bad user input (command line, profile); the CLI prints it and exits with status 2."""


def printable(text: str) -> str:
    """``text`` with what a terminal would not show as itself escaped as Python writes it:
    a newline in a file name or a control character (one problem stays one line), a lone
    surrogate (which no encoding writes: printing it would raise UnicodeEncodeError)."""
    return text if text.isprintable() else "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def to_stderr(text: str) -> None:
    """``text`` as one line on standard error, where there is one: started with it closed
    (``2>&-``), ``sys.stderr`` is None, and ``print(file=None)`` would write to standard
    output instead, among the results a reader pipes on."""
    if sys.stderr is None:
        return
    try:
        print(text, file=sys.stderr, flush=True)
    except OSError:  # a standard error that takes no writes: nowhere left to say it
        pass
