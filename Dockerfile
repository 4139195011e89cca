# Haul in one container: web (gunicorn + gevent) and worker (Huey) supervised by `flask serve`.
# tests/test_container.py runs this file's CMD and HEALTHCHECK as they stand (no Docker needed).
FROM python:3.11-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*

# Haul runs as an unprivileged user. /data is made for it, so a named volume starts out
# writable; a bind mount must be writable by uid 1000 (or run with --user, see docs/deployment.md).
RUN useradd --create-home --uid 1000 haul \
 && mkdir /data \
 && chown haul:haul /data

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .

ENV HAUL_DATA_DIR=/data \
    HAUL_HOST=0.0.0.0 \
    HAUL_PORT=8080 \
    PYTHONUNBUFFERED=1
USER haul
VOLUME ["/data"]
EXPOSE 8080

# GET /health answers 200 while the database does; Docker marks the container unhealthy otherwise.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('HAUL_PORT', '8080') + '/health', timeout=4)"]

# Migrations first (idempotent), then web and worker together; SIGTERM (docker stop) stops both
# within its 10-second grace, a running download going back to the queue.
CMD ["sh", "-c", "flask --app wsgi db upgrade && exec flask --app wsgi serve"]
