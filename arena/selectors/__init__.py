"""Reads: querysets and plain data with their joins chosen, for views, the API and reports."""
