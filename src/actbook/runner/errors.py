"""The runner's error for bad user input, importable by every runner module."""

__all__ = ["UsageError"]


class UsageError(ValueError):
    """Bad user input (command line, profile); the CLI prints it and exits with status 2."""
