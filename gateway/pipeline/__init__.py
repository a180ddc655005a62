"""The four stages (validate, evaluate, approve, execute) and the runner that owns each unit of work."""
