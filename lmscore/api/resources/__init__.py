"""Core API resources, one flask-smorest blueprint (OpenAPI tag) each."""


def core_blueprints():
    from .auth.routes import blp as auth
    from .operations.routes import blp as operations
    from .users.routes import blp as users

    return [auth, users, operations]
