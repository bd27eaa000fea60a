"""Where the tests find the project and their reference data, wherever a test module sits under tests/."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the project folder
DATA = ROOT / "tests" / "data"  # reference data kept as fixtures, each with its source named
