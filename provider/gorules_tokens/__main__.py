"""``python -m gorules_tokens``: the same as the ``gorules-tokens`` console script."""

import sys

from .rollout.cli import main

sys.exit(main())
