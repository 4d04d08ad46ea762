"""coldbench: cold-start benchmarking for AWS Lambda."""

__version__ = "0.1.0"
