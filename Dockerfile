# syntax=docker/dockerfile:1
# Build stage: install the package and its dependencies into a virtualenv.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY app ./app
RUN /opt/venv/bin/pip install .

# Runtime stage: the virtualenv only, a non-root user, no build tools.
FROM python:3.11-slim
ARG APP_COMMIT=unknown
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_ENV=production \
    PORT=8080 \
    APP_COMMIT=$APP_COMMIT
RUN useradd --system --uid 10001 --no-create-home app
COPY --from=build /opt/venv /opt/venv
USER 10001
EXPOSE 8080
# Liveness only (/livez depends on nothing): a database outage must not mark every container
# unhealthy, and an orchestrator that restarts unhealthy ones would only lose their caches.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8080\")}/livez', timeout=2)"
STOPSIGNAL SIGTERM
CMD ["python", "-m", "app"]
