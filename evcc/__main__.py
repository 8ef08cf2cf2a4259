"""`python -m evcc` is the `evcc` command."""

import sys

from evcc.cli import main

sys.exit(main())
