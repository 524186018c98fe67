"""Alembic environment and revisions of the Roost database (run by ``Store.open``)."""
