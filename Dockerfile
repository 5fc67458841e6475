# The Pacte image: the worker (its default command), starter.py, and the partner desk
# (portal.py). Built by docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY pyproject.toml ./
COPY schemas/ schemas/
COPY workflows/ workflows/
COPY activities/ activities/
COPY infra/ infra/
COPY application/ application/
COPY web/ web/
COPY auditing/ auditing/
COPY records/ records/
COPY storage/ storage/
COPY documents/ documents/
COPY rendering/ rendering/
COPY migrations/ migrations/
COPY worker.py starter.py demo.py audit.py codec_server.py portal.py ./

RUN pip install --no-cache-dir .

# Run unprivileged. `python worker.py` runs from /app, so infra/ resolves migrations/ next to it.
RUN useradd --create-home --uid 10001 pacte \
    && mkdir -p /app/.pacte \
    && chown pacte:pacte /app/.pacte
USER pacte

CMD ["python", "worker.py"]
