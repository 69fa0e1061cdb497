"""The HTTP edge, in request order: serving, middleware, the view, transports, GraphiQL."""
