"""``python -m actbook.experiment``: the runner's command line (:mod:`actbook.runner.experiment`)."""

import sys

from actbook.runner.experiment import main

if __name__ == "__main__":
    sys.exit(main())
