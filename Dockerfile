# stitch-connector: Debian's Python 3.11 and Debian's Chromium headless shell (what Playwright runs headless;
# the image never shows a window); nothing is downloaded at run time.
#   docker build -t stitch-connector .
#   docker run --rm --init -v stitch-state:/var/lib/stitch-connector -v "$PWD/secrets:/run/secrets/stitch:ro" \
#     -e STITCH_EMAIL_FILE=/run/secrets/stitch/email -e STITCH_PASSWORD_FILE=/run/secrets/stitch/password \
#     stitch-connector                       # = stitch-connector sync; see "Run it on a schedule"
# scripts/container-smoke.sh builds this image and runs the demo and `sync` inside it (CI).

# The base image. A plain build (and scripts/container-smoke.sh) takes the tag; a production build pins
# the exact image it was reviewed with, by digest, so a moved tag cannot change what ships:
#   docker build --build-arg BASE_IMAGE=debian:bookworm-slim@sha256:<digest> -t stitch-connector .
# (the digest: `docker buildx imagetools inspect debian:bookworm-slim`, or `crane digest`; Renovate or
# Dependabot can keep it current).
ARG BASE_IMAGE=debian:bookworm-slim

# The runtime: Debian's packages, and the user the connector runs as.
FROM ${BASE_IMAGE} AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STITCH_BROWSER_PATH=/usr/bin/chromium-headless-shell \
    STITCH_STATE_DIR=/var/lib/stitch-connector \
    PATH=/opt/venv/bin:$PATH

# libatomic1: Playwright's bundled Node needs it on a slim base.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      python3 python3-venv chromium-headless-shell libatomic1 ca-certificates fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 stitch \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/stitch-connector --create-home \
      --shell /usr/sbin/nologin stitch \
 && chmod 700 /var/lib/stitch-connector

# pyproject.toml's dependencies (and its build backend), as a requirements file. Only this file reaches
# the next stage, so editing anything else in pyproject.toml keeps the installed dependencies cached.
FROM base AS requirements
COPY pyproject.toml /tmp/pyproject.toml
RUN python3 -c 'import tomllib; p = tomllib.load(open("/tmp/pyproject.toml", "rb")); print("\n".join(p["build-system"]["requires"] + p["project"]["dependencies"]))' > /tmp/requirements.txt

FROM base
# Build-time only, unset unless given with --build-arg: pip's CA bundle (a corporate proxy) and index.
ARG PIP_CERT
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL

# Dependencies first, so a source change does not reinstall them.
COPY --from=requirements /tmp/requirements.txt /opt/requirements.txt
RUN python3 -m venv /opt/venv \
 && pip install --no-compile -r /opt/requirements.txt

WORKDIR /app
COPY README.md pyproject.toml ./
COPY connector ./connector
COPY selectors ./selectors
RUN pip install --no-compile --no-deps --no-build-isolation . \
 && stitch-connector --help >/dev/null

USER 10001:10001
VOLUME ["/var/lib/stitch-connector"]
ENTRYPOINT ["stitch-connector"]
CMD ["sync"]
