"""``python -m synthgate`` is ``synthgate``."""

from synthgate.cli import main

raise SystemExit(main())
