"""The safety officers' web pages: server-rendered with Jinja2 under /ui, no JavaScript."""
