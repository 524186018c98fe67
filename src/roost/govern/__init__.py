"""Governance: tenants, roles and their permission table, API-key principals, quotas;
the audit trail and data lineage (:mod:`roost.govern.audit`); secrets and data
protection.

Sits between the server and observability in the layers: the server authenticates a
request into a :class:`Principal`, this package decides what it may do and spend.
Names load on first access (decision 0097).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from roost._lazy import lazy_names

_LAZY = {
    "ANONYMOUS": "roost.govern.principal",
    "PERMISSIONS": "roost.govern.roles",
    "PUBLIC": "roost.govern.principal",
    "Principal": "roost.govern.principal",
    "QUOTAS": "roost.govern.quotas",
    "QuotaExceeded": "roost.govern.errors",
    "QuotaGate": "roost.govern.quotas",
    "QuotaLimitReached": "roost.govern.errors",
    "ROLES": "roost.govern.roles",
    "TABLE": "roost.govern.roles",
}
__getattr__ = lazy_names(__name__, _LAZY)
__all__ = [
    "ANONYMOUS",
    "PERMISSIONS",
    "PUBLIC",
    "QUOTAS",
    "ROLES",
    "TABLE",
    "Principal",
    "QuotaExceeded",
    "QuotaGate",
    "QuotaLimitReached",
]

if TYPE_CHECKING:
    from roost.govern.errors import QuotaExceeded, QuotaLimitReached
    from roost.govern.principal import ANONYMOUS, PUBLIC, Principal
    from roost.govern.quotas import QUOTAS, QuotaGate
    from roost.govern.roles import PERMISSIONS, ROLES, TABLE
