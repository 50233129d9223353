"""``python -m vocals2song``: the command-line interface."""

from .cli import main

raise SystemExit(main())
