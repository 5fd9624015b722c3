"""Request models: what the endpoints accept, validated with pydantic (422 naming each bad field)."""
