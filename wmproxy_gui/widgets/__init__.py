"""Reusable widgets of the pages: throughput graph, inline form errors, empty states."""
