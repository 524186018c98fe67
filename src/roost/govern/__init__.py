"""Governance: secrets without a vault, data protection at rest, DLP and privacy routing
(tenants, roles, quotas and the audit trail join this layer too)."""
