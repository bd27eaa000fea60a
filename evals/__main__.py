"""`python -m evals ...`: the same as `python -m agent eval ...`, one command line for both."""

import sys

from agent.cli import main

args = sys.argv[1:]
# --debug belongs before the command in `python -m agent`.
raise SystemExit(main([*(["--debug"] if "--debug" in args else []), "eval", *(a for a in args if a != "--debug")]))
