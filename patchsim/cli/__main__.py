"""``python -m patchsim.cli``: the ``patchsim`` command."""

import sys

from patchsim.cli import main

sys.exit(main())
