"""HTTP layer: the app factory, middlewares and one module of routes per resource."""
