"""HTML pages (help centre, agent console, dashboard), their templates and static files."""
