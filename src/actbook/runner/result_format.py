"""The result-file format this runner writes, and the formats it repeats.

Kept apart from the command line and the training loop so that both, and
``check``, read one number without importing a framework.
"""

__all__ = ["SCHEMA_VERSION", "CURRENT_SCHEMAS"]

#: The result format this runner writes (a result file's ``schema``).
SCHEMA_VERSION = 5
#: Result formats whose cells this runner repeats bit for bit when their config
#: is the profile's: 5 only adds measurements (cross-entropy alone, per-image
#: predictions, the calibrated loss) to 4 and changes no number 4 has.
CURRENT_SCHEMAS = (4, 5)
