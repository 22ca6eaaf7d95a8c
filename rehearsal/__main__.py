"""``python -m rehearsal``: see :mod:`rehearsal.run`."""

import sys

from rehearsal.run import main

sys.exit(main())
