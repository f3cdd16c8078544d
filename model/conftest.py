"""Lets tests import the scripts in model/ (train.py, serve.py) as top-level modules."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
