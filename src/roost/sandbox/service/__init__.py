"""The sandbox manager as a service: an HTTP API (``roost sandbox serve``) and the
sandbox tools over MCP."""
