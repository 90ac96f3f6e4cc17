"""`python -m hex_mcp`: the same entry point as the `hex-mcp` command."""

import sys

from hex_mcp.cli import main

sys.exit(main())
