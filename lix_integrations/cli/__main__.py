"""``python -m lix_integrations.cli``: what the ``lix`` console script runs."""

from . import main

main()
