"""`python -m fakehex --port 0`: serve the fake upstream until interrupted."""

from fakehex.upstream import main

raise SystemExit(main())
