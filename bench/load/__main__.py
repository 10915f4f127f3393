"""``python -m bench.load``: the same as ``bench/run``."""

from bench.load.cli import main

raise SystemExit(main())
