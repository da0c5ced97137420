"""``python -m crest_benchmark``: the benchmark command."""

import sys

from .cli import main

sys.exit(main())
