"""Run the synthetic tiny cell in a fresh process and print its history as JSON
(the reproducibility tests start this with different environments).

    run_tiny_cell.py RESULTS ARM [--die-after-first-checkpoint]
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import synthetic_cifar  # noqa: E402

from actbook.runner import experiment as E  # noqa: E402
from actbook.runner import precision  # noqa: E402

results, arm = Path(sys.argv[1]), sys.argv[2]
if "--die-after-first-checkpoint" in sys.argv:
    from actbook.runner import train as T
    real = T.save_checkpoint

    def save_then_die(*args, **kwargs):
        real(*args, **kwargs)
        os._exit(9)  # as a killed job: no cleanup, no result

    T.save_checkpoint = save_then_die
path = E.run("tiny", results, arms=[arm], data=synthetic_cifar(), progress=False)[0]
cell = json.loads(path.read_text())
print(json.dumps({"history": cell["history"], "kernels": cell["provenance"]["hardware"]["kernels"],
                  "backend": cell["provenance"]["backend"], "effective_isa": precision.effective_isa()}))
