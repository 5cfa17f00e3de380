"""``python -m actbook``: the experiment runner's command line, as the ``actbook`` command."""

import sys

from actbook.runner.experiment import main

sys.exit(main())
