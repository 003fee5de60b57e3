"""`make demo`: the service through a database incident, watched by the real Prometheus,
Alertmanager and loopback trace and error receivers, with a report at the end (README, Quick
start). Part of the example domain: it drives the catalog, content and auth routes."""
