"""Prometheus metrics of one gateway app, in a registry of its own so several apps can share a process."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
FIRST_TOKEN_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)


class GatewayMetrics:
    """The counters the gateway exports on /metrics; label ``route`` is the route's path template."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "hearth_gateway_requests", "HTTP requests answered", ["route", "method", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "hearth_gateway_request_duration_seconds",
            "Time from request to the last byte of the response (whole stream for SSE)",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "hearth_gateway_requests_in_flight",
            "Requests being answered now (streams until their end)",
            registry=self.registry,
        )
        self.time_to_first_token = Histogram(
            "hearth_gateway_time_to_first_token_seconds",
            "Streams: arrival at the gateway to the first token sent; unary: the text backend's own figure",
            ["route"],
            buckets=FIRST_TOKEN_BUCKETS,
            registry=self.registry,
        )
        self.tokens = Counter(
            "hearth_gateway_tokens",
            "Tokens processed, by kind (prompt or completion)",
            ["route", "kind"],
            registry=self.registry,
        )
        self.images = Counter("hearth_gateway_images", "Images returned", ["route"], registry=self.registry)
        self.errors = Counter(
            "hearth_gateway_errors",
            "Error responses and mid-stream errors, by the backend at fault (gateway for its own)",
            ["route", "backend", "code"],
            registry=self.registry,
        )
        self.backend_up = Gauge(
            "hearth_gateway_backend_up",
            "1 when the backend's health reports SERVING",
            ["backend"],
            registry=self.registry,
        )
        self.backend_active = Gauge(
            "hearth_gateway_backend_active_requests",
            "Requests the backend is working on (GetModelInfo)",
            ["backend"],
            registry=self.registry,
        )
        self.backend_queued = Gauge(
            "hearth_gateway_backend_queued_requests",
            "Requests waiting in the backend's queue (GetModelInfo)",
            ["backend"],
            registry=self.registry,
        )
