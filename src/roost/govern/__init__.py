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
    "DataProtection": "roost.govern.protection",
    "Detector": "roost.govern.detectors",
    "DlpPolicy": "roost.govern.dlp",
    "Finding": "roost.govern.detectors",
    "KeyWrapper": "roost.govern.keyring",
    "LocalKeyring": "roost.govern.keyring",
    "MasterKey": "roost.govern.keyring",
    "PERMISSIONS": "roost.govern.roles",
    "PUBLIC": "roost.govern.principal",
    "Principal": "roost.govern.principal",
    "PrivacyRouter": "roost.govern.routing",
    "QUOTAS": "roost.govern.quotas",
    "QuotaExceeded": "roost.govern.errors",
    "QuotaGate": "roost.govern.quotas",
    "QuotaLimitReached": "roost.govern.errors",
    "ROLES": "roost.govern.roles",
    "Redactor": "roost.govern.dlp",
    "SecretStore": "roost.govern.secrets",
    "TABLE": "roost.govern.roles",
    "TenantSealer": "roost.govern.protection",
    "install_governance": "roost.govern.install",
    "install_secret_resolver": "roost.govern.secret_refs",
    "is_private": "roost.govern.routing",
    "keyring_from_settings": "roost.govern.keyring",
}
__all__ = sorted(_LAZY)
__getattr__ = lazy_names(__name__, _LAZY)

if TYPE_CHECKING:
    from roost.govern.detectors import Detector as Detector
    from roost.govern.detectors import Finding as Finding
    from roost.govern.dlp import DlpPolicy as DlpPolicy
    from roost.govern.dlp import Redactor as Redactor
    from roost.govern.errors import QuotaExceeded as QuotaExceeded
    from roost.govern.errors import QuotaLimitReached as QuotaLimitReached
    from roost.govern.install import install_governance as install_governance
    from roost.govern.keyring import KeyWrapper as KeyWrapper
    from roost.govern.keyring import LocalKeyring as LocalKeyring
    from roost.govern.keyring import MasterKey as MasterKey
    from roost.govern.keyring import keyring_from_settings as keyring_from_settings
    from roost.govern.principal import ANONYMOUS as ANONYMOUS
    from roost.govern.principal import PUBLIC as PUBLIC
    from roost.govern.principal import Principal as Principal
    from roost.govern.protection import DataProtection as DataProtection
    from roost.govern.protection import TenantSealer as TenantSealer
    from roost.govern.quotas import QUOTAS as QUOTAS
    from roost.govern.quotas import QuotaGate as QuotaGate
    from roost.govern.roles import PERMISSIONS as PERMISSIONS
    from roost.govern.roles import ROLES as ROLES
    from roost.govern.roles import TABLE as TABLE
    from roost.govern.routing import PrivacyRouter as PrivacyRouter
    from roost.govern.routing import is_private as is_private
    from roost.govern.secret_refs import install_secret_resolver as install_secret_resolver
    from roost.govern.secrets import SecretStore as SecretStore
