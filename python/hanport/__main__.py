"""``python -m hanport`` runs the command-line interface."""

from hanport.cli import main

raise SystemExit(main())
