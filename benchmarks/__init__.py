"""Benchmarks of django-ticketoffice: ``python -m benchmarks`` (see benchmarks/README.md)."""
