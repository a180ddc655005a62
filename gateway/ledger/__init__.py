"""The audit ledger: append-only, hash-chained events (design section 9)."""
