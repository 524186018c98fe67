"""The two :class:`~roost.store.backend.StoreBackend` implementations (decision 0120)."""
