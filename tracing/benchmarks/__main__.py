"""``python -m tracing.benchmarks``: the benchmark command (``tracing.benchmarks.bench``)."""

from tracing.benchmarks.bench import main

raise SystemExit(main())
