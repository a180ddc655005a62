"""Adapters: the only code that talks to OPA, the database and the cloud."""
