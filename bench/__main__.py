"""`python -m bench`."""

from bench.cli import entry

entry()
