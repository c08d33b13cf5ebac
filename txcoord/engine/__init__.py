"""The coordinator's engine: decisions (coordinator), phase 2 (phase2), takeover and timeouts (recovery)."""
