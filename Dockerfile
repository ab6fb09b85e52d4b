# syntax=docker/dockerfile:1
# One image for the API, the worker and the sandbox; the command picks (docker-compose.yml):
#   python -m uvicorn api.main:app --host 0.0.0.0 --port 8000    the API
#   python -m worker                                            a worker
#   python -m sandbox --host 0.0.0.0                            the sandbox stand-ins (a local trial only)
# The same entry points `aftercare up` starts (aftercare/stack.py).

# --- build: dependencies into a virtual environment ----------------------------------------------------------------
FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# the project's metadata first, so a code change does not re-install every dependency
COPY pyproject.toml README.md ./
COPY aftercare ./aftercare
COPY activities ./activities
COPY api ./api
COPY connectors ./connectors
COPY domain ./domain
COPY policies ./policies
COPY sandbox ./sandbox
COPY storage ./storage
COPY workflows ./workflows
COPY worker.py ./
# with the `otel` extra: the API and worker trace when OTEL_EXPORTER_OTLP_ENDPOINT is set
RUN /opt/venv/bin/pip install '.[otel]'

# --- runtime: the virtual environment and the code, run as an unprivileged user -----------------------------------
FROM python:3.11.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AFTERCARE_HOME=/var/lib/aftercare \
    AFTERCARE_TEMPLATES_DIR=/app/templates
RUN groupadd --system --gid 10001 aftercare \
 && useradd --system --uid 10001 --gid aftercare --home-dir /var/lib/aftercare --shell /usr/sbin/nologin aftercare \
 && mkdir -p /var/lib/aftercare /etc/aftercare/policies \
 && chown aftercare:aftercare /var/lib/aftercare \
 && chmod 0700 /var/lib/aftercare
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# the source as well as the installed package: templates/ is not a package, and PYTHONPATH=/app makes the
# code run from here (aftercare.settings finds templates/ and policies/bundled/ next to it)
COPY --chown=root:root . /app
COPY --chown=root:root policies/bundled /etc/aftercare/policies
# Bytecode for the workflow modules, which the sandbox imports afresh for every workflow run: the worker
# may not write /app and PYTHONDONTWRITEBYTECODE is set, so without it each run compiles them (docs/PERFORMANCE.md)
RUN python -m compileall -q /app/workflows
USER 10001:10001
EXPOSE 8000
CMD ["python", "-m", "worker"]
