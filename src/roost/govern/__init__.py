"""Governance: the audit trail and data lineage (:mod:`roost.govern.audit`), and what
other helpers add beside it (tenants, roles, quotas, secrets)."""
