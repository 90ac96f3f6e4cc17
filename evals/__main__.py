"""`python -m evals`: run the eval cases (see `python -m evals --help`)."""

import sys

from evals.runner import main

sys.exit(main())
