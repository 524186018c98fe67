"""HTTP routes, one module per resource; each exposes ``routes(app) -> list[BaseRoute]``."""
