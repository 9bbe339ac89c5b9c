"""``python -m vlmctx.cli``: the ``vlmctx`` command, for launchers that need a module (accelerate)."""

from vlmctx.cli import main

raise SystemExit(main())
