"""``python -m vocals2song``: the command-line interface."""

from vocals2song.cli import main

raise SystemExit(main())
