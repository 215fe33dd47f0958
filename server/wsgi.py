"""WSGI entry point for external servers: ``create_app`` configured from the environment."""

from flask import Flask

from server.app import create_app


def application() -> Flask:
    """Factory: each worker process builds its own app (and its own store connections)."""
    return create_app()
