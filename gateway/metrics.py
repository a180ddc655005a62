"""Prometheus metrics (served at /metrics)."""

from prometheus_client import Counter, Histogram

DECISIONS = Counter("gateway_decisions_total", "Policy decisions by outcome", ["outcome", "kind"])
HTTP_LATENCY = Histogram(
    "gateway_http_request_seconds",
    "HTTP request latency",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
OPA_UNAVAILABLE = Counter(
    "gateway_policy_unavailable_total", "Evaluations refused because OPA was unavailable"
)
DELIVERIES = Counter(
    "gateway_deliveries_total",
    "Outbox delivery attempts (webhooks, ServiceNow) by result: delivered, retry, failed",
    ["kind", "result"],
)
