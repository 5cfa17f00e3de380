"""The former home of :func:`actbook.tables.run_length`."""

from actbook.tables import run_length  # alias until chapters move (lead)
