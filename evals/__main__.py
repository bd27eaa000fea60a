"""`python -m evals ...`: the eval command on its own (the same flags as `python -m agent eval`)."""

from evals.cli import main

raise SystemExit(main())
