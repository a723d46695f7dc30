"""The web console: pages and a JSON API behind a login (see app.py)."""
