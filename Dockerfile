# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
WORKDIR /src
# The locked dependencies first (exact versions, hashes checked: requirements/runtime.lock, written by
# ./scripts/lock), with the PostgreSQL driver and the report charts; then the project itself, resolving
# nothing again.
COPY requirements/runtime.lock ./requirements/
RUN python -m pip install --no-cache-dir --prefix=/install --require-hashes -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY cds_service ./cds_service
# hadolint ignore=DL3013
RUN python -m pip install --no-cache-dir --prefix=/install --no-deps .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 --user-group cds \
    && mkdir /data \
    && chown cds /data
COPY --from=build /install /usr/local
ENV CDS_ENVIRONMENT=production \
    CDS_HOST=0.0.0.0 \
    CDS_PORT=8000 \
    CDS_DATABASE_URL=sqlite:////data/cds-service.sqlite3 \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
CMD ["cds-service", "serve"]
