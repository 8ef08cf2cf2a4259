"""`python -m evcc.app run --config <toml>` (the same as `evcc run` once evcc.cli lists evcc.app.cli)."""

import sys

from evcc.app.cli import main

sys.exit(main())
