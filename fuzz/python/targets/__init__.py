"""One module per Python fuzz target: ``test_one(data)`` and ``EXPECTED`` (fuzz/python/harness.py)."""
