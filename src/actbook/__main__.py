"""``python -m actbook``: the experiment runner's command line, as the ``actbook`` command."""

import sys


def run() -> int:
    """The ``actbook`` command: Ctrl-C while the runner's modules load ends in one line, not a traceback."""
    try:
        from actbook.runner.experiment import main
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    return main()


if __name__ == "__main__":
    sys.exit(run())
