"""Reading and judging the committed results: ``results`` (result files into
pandas, refusing what cannot be trusted; a regime read only when complete),
``stats`` (paired comparisons, their corrections and the design's power),
``claims`` (the protocol's families and the answer to each claim),
``agreement`` (sweeps side by side) and ``reproduction`` (reruns held against
committed cells); ``selection`` reads the learning-rate grids, ``step_time``
the committed step-time benchmark."""
