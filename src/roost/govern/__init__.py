"""Governance: secrets without a vault, data protection at rest, DLP and privacy routing
(tenants, roles, quotas and the audit trail join this layer too).

Names load on first use (``import roost.govern`` stays cheap)."""

from typing import TYPE_CHECKING

from roost._lazy import lazy_names

_LAZY = {
    "DataProtection": "roost.govern.protection",
    "Detector": "roost.govern.detectors",
    "DlpPolicy": "roost.govern.dlp",
    "Finding": "roost.govern.detectors",
    "KeyWrapper": "roost.govern.keyring",
    "LocalKeyring": "roost.govern.keyring",
    "MasterKey": "roost.govern.keyring",
    "PrivacyRouter": "roost.govern.routing",
    "Redactor": "roost.govern.dlp",
    "SecretStore": "roost.govern.secrets",
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
    from roost.govern.install import install_governance as install_governance
    from roost.govern.keyring import KeyWrapper as KeyWrapper
    from roost.govern.keyring import LocalKeyring as LocalKeyring
    from roost.govern.keyring import MasterKey as MasterKey
    from roost.govern.keyring import keyring_from_settings as keyring_from_settings
    from roost.govern.protection import DataProtection as DataProtection
    from roost.govern.protection import TenantSealer as TenantSealer
    from roost.govern.routing import PrivacyRouter as PrivacyRouter
    from roost.govern.routing import is_private as is_private
    from roost.govern.secret_refs import install_secret_resolver as install_secret_resolver
    from roost.govern.secrets import SecretStore as SecretStore
