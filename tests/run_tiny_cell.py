"""Run the synthetic tiny cell in a fresh process and print its history as JSON
(the reproducibility tests start this with different environments)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import synthetic_cifar  # noqa: E402

from actbook import experiment as E  # noqa: E402
from actbook import precision  # noqa: E402

results, arm = Path(sys.argv[1]), sys.argv[2]
path = E.run("tiny", results, arms=[arm], data=synthetic_cifar(), progress=False)[0]
cell = json.loads(path.read_text())
print(json.dumps({"history": cell["history"], "kernels": cell["provenance"]["hardware"]["kernels"],
                  "effective_isa": precision.effective_isa()}))
