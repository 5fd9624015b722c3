"""Pages for people (HTML), one module per area, beside the JSON API of webapp/api/."""
