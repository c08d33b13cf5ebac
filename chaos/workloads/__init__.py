"""Built-in workloads; importing this package registers them."""

from chaos.workloads import bank_saga, bank_tcc, hooks

__all__ = ["bank_saga", "bank_tcc", "hooks"]
