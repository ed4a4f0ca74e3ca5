"""Entry point: ``python -m benchmarks [--quick] [--skip-e2e] [--skip-scale]``."""

from benchmarks.run import main

raise SystemExit(main())
