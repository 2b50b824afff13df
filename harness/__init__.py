"""harness: a statistical benchmarking harness for sequential face-identification training."""

__version__ = "0.1.0"
