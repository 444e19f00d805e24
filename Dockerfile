# stitch-connector: Debian's Python 3.11 and Debian's Chromium; nothing is downloaded at run time.
FROM debian:bookworm-slim

# The usual corporate-proxy hook: a CA bundle for pip, passed in at build time only.
ARG PIP_CERT=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STITCH_BROWSER_PATH=/usr/bin/chromium \
    STITCH_STATE_DIR=/var/lib/stitch-connector \
    PATH=/opt/venv/bin:$PATH

# libatomic1: Playwright's bundled Node needs it on a slim base.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      python3 python3-venv chromium libatomic1 ca-certificates fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Dependencies first, so a source change does not reinstall them.
COPY pyproject.toml README.md ./
RUN python3 -m venv /opt/venv \
 && PIP_CERT="${PIP_CERT}" pip install --no-compile \
      "playwright>=1.45" "pydantic>=2.7" "pydantic-settings>=2.3" "tenacity>=8.3" \
      "structlog>=24.1" "typer>=0.12" "rich>=13.7" "starlette>=0.37" "uvicorn>=0.30" \
      "jinja2>=3.1" "python-multipart>=0.0.9" "pyotp>=2.9" "hatchling>=1.25"

COPY connector ./connector
COPY selectors ./selectors
RUN PIP_CERT="${PIP_CERT}" pip install --no-compile --no-deps --no-build-isolation . \
 && groupadd --system --gid 10001 stitch \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/stitch-connector --create-home stitch \
 && chmod 700 /var/lib/stitch-connector

USER 10001:10001
VOLUME ["/var/lib/stitch-connector"]
ENTRYPOINT ["stitch-connector"]
CMD ["members", "--json"]
