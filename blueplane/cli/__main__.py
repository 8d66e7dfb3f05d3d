"""`python -m blueplane.cli`: how `blueplane up --detach` starts the supervisor."""

import sys

from . import main

sys.exit(main())
