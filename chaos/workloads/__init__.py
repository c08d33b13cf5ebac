"""Built-in workloads; importing this package registers them."""

from chaos.workloads import bank_saga, bank_tcc, bank_xa, hooks

__all__ = ["bank_saga", "bank_tcc", "bank_xa", "hooks"]
