"""governance-gateway: every cloud change passes schema, policy (OPA) and approval, and lands in an audit ledger."""

__version__ = "0.1.0"
