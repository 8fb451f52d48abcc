"""Core API resources, one flask-smorest blueprint (OpenAPI tag) each."""


def core_blueprints():
    from .auth.routes import blp as auth
    from .banks.routes import blp as banks
    from .notifications.routes import blp as notifications
    from .operations.routes import blp as operations
    from .payments.routes import blp as payments
    from .quizzes.routes import blp as quizzes
    from .recommendations.routes import blp as recommendations
    from .reviews.routes import blp as reviews
    from .submissions.routes import blp as submissions
    from .tracks.routes import blp as tracks
    from .users.routes import blp as users
    from .workspaces.routes import blp as workspaces

    return [auth, users, tracks, submissions, reviews, quizzes, banks, operations,
            recommendations, payments, notifications, workspaces]
