# ml-connector: gateway and worker image (the same image runs either: `ml-connector gateway|worker`).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MLC_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ml_connector ./ml_connector
COPY gateway ./gateway
COPY workflows ./workflows
COPY activities ./activities
COPY worker.py ./
RUN pip install --no-cache-dir . && useradd --system --home /data mlc && mkdir -p /data && chown mlc /data
USER mlc
EXPOSE 8000
CMD ["ml-connector", "gateway"]
