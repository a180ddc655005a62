"""SQLModel tables, the engine and keyword-only repository functions (they never commit)."""
