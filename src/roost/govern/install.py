"""Everything the server switches on at start: the store's content sealer, ``secret://``
resolution, and the DLP policy of the logs and traces sinks."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from roost.core import RoostError, secret_ref, sink_redactors
from roost.core.settings import Settings
from roost.core.sink_redactors import Redactor as TextRedactor
from roost.govern.detectors import KINDS
from roost.govern.dlp import DlpPolicy, Redactor
from roost.govern.keyring import keyring_from_settings
from roost.govern.protection import DataProtection
from roost.govern.secret_refs import install_secret_resolver
from roost.store import Store

log = logging.getLogger("roost.govern")

OBSERVE_KINDS = tuple(k for k in KINDS if k != "ip")
"""Kinds masked in logs and traces by default: IP addresses stay (operators need them)."""


@dataclass
class Governance:
    """What :func:`install_governance` switched on; :meth:`close` switches it off."""

    protection: DataProtection
    redactor: Redactor
    _hooks: list[TextRedactor] = field(default_factory=list)

    def close(self) -> None:
        for hook in self._hooks:
            sink_redactors.unregister(hook)
        self._hooks.clear()
        secret_ref.install(None)


async def install_governance(
    store: Store, settings: Settings, *, database_url: str, schema: str | None = None
) -> Governance | None:
    """Seal protected tenants' content in ``store``, resolve ``secret://`` references
    from it, and apply the DLP policy to logs and traces. None (and a warning) when no
    master key can be had — the server then runs with content in clear."""
    try:
        keys = keyring_from_settings(settings)
        protection = DataProtection(store, keys, settings=settings)
        await protection.start()
    except (RoostError, OSError) as exc:
        log.warning("data protection is off: %s", exc)
        return None
    install_secret_resolver(database_url, keys, schema=schema)
    redactor = Redactor(
        DlpPolicy(kinds=OBSERVE_KINDS),
        hash_key=protection.sealer.hash_key,
        profile=settings.crypto_profile,
    )
    gov = Governance(protection, redactor)
    for sink in ("logs", "traces"):

        def hook(text: str, sink: str = sink) -> str:
            return redactor.redact(text, sink)

        sink_redactors.register(sink, hook)
        gov._hooks.append(hook)
    return gov
