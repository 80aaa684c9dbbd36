# slabridge: the receiver (gunicorn) or a worker, from one image.
FROM python:3.11-slim
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir /app && useradd --system --home /app slabridge
USER slabridge
ENV SLABRIDGE_CONFIG=/config/slabridge.toml
EXPOSE 8080
# Threaded workers: a slow client holds a thread, never the whole worker (README: Running in production).
CMD ["gunicorn", "--worker-class", "gthread", "--workers", "2", "--threads", "8", "--timeout", "30", \
     "--keep-alive", "5", "--bind", "0.0.0.0:8080", "slabridge_webhooks:create_app()"]
