"""The kernel below the tiers: typed ops, the flow drivers, keys, scope, clock and counters.

It imports nothing above it (no tier, backend, facade or adapter); ``tests/unit/test_import_layers.py`` checks it.
"""
