"""`python -m hex_mcp`: the same entry point as the `hex-mcp` command (and a bundle's)."""

import sys

from hex_mcp.python_check import exit_if_unsupported

exit_if_unsupported()  # before the first import of a compiled dependency

from hex_mcp.cli import main  # noqa: E402 - only once the interpreter is known to fit

sys.exit(main())
