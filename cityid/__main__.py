"""``python -m cityid`` is the ``cityid`` command."""

from .cli import main

main()
