"""The HTTP API phones call. ``feed_api.app:create_app()`` builds it."""
