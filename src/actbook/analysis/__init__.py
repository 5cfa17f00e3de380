"""Reading and judging the committed results: ``results`` (result files into
pandas, refusing what cannot be trusted), ``stats`` (paired comparisons and
their corrections) and ``reproduction`` (reruns held against committed cells)."""
