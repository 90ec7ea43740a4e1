"""Watching the system: Prometheus metrics, OpenTelemetry traces, JSON logs, health checks, and
the per-call samples the dashboard's charts aggregate. The engine calls `hooks` at a few points."""
