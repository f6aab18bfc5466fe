"""Defaults the engine and its command line share, importable without numpy or pandas
(the command line builds its options from them before any engine module loads)."""

#: Default ceiling on the number of levels of one stratum column. A column with more
#: levels is most likely continuous (age in years, a date) and should be banded first.
MAX_STRATUM_LEVELS = 50

#: File names read and written as Parquet (anything else is CSV).
PARQUET_SUFFIXES = (".parquet", ".pq")
