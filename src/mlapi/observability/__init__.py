"""What the service tells about itself: Prometheus metrics, the access log, the prediction log, /monitor's summary."""
