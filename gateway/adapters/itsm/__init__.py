"""ITSM adapters: ServiceNow's Table API and signed outgoing webhooks. Each call returns a Delivery, never raises."""
