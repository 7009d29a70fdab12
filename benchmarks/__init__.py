"""The zoo's benchmarks: scripts run as ``python benchmarks/<name>.py``, and the
modules they share (`benchmarks.machine`, `benchmarks.throughput`).

It is a package so that the scripts import their shared code by one absolute name,
whether they run as scripts or are imported by the tests; it is not part of the
installed library (pyproject packages only ``zoo*``).
"""
