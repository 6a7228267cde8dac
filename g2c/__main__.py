"""``python -m g2c`` (and ``torchrun -m g2c``) runs the command line."""

import sys

from g2c.cli import main

sys.exit(main())
