"""hex-mcp: an MCP server that answers questions about packages on Hex (hex.pm)."""

__version__ = "0.1.0"
