"""Coverage-guided Python fuzz targets and their runner (issue 20 point 2; fuzz/python/run.py)."""
