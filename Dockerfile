# Haul in one container: web (gunicorn + gevent) and worker (Huey) supervised by `flask serve`.
FROM python:3.11-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .

ENV HAUL_DATA_DIR=/data \
    HAUL_HOST=0.0.0.0 \
    HAUL_PORT=8080 \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
EXPOSE 8080

# Migrations first (idempotent), then web and worker together; SIGTERM stops both cleanly.
CMD ["sh", "-c", "flask --app wsgi db upgrade && exec flask --app wsgi serve"]
