"""Prometheus metric names profkit reads in more than one place (controller-runtime, client-go, process)."""

RECONCILE_TOTAL = "controller_runtime_reconcile_total"
RECONCILE_ERRORS_TOTAL = "controller_runtime_reconcile_errors_total"
PROCESS_CPU_SECONDS = "process_cpu_seconds_total"
CONTAINER_CPU_SECONDS = "container_cpu_usage_seconds_total"
REST_CLIENT_REQUESTS = "rest_client_requests_total"
WORKQUEUE_DEPTH = "workqueue_depth"
