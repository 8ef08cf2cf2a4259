# Coverage-guided fuzzing of the Python parsers (issue 20 point 2: fuzz/python/run.py, tests/fuzz/test_python_targets.py).
# atheris 3.0.0 ships a cp311 manylinux wheel with libFuzzer built in; pip skips it when already installed.
PIP_PACKAGES+=("atheris==3.0.0")
