"""Compliance summaries for marketing authorization holders: build (pure) and render (JSON, CSV, Excel, PDF)."""
