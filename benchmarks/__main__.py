"""Entry point: ``python -m benchmarks [--quick | --tiny] [--skip-e2e] [--output DIR]``."""

from benchmarks.run import main

raise SystemExit(main())
