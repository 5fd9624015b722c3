# One image for every process of docker-compose.yml (web, workers, relay, Flower, migrate).
# The virtualenv lives at /app/.venv and WORKDIR is /app, so the Procfile's `.venv/bin/...`
# commands run unchanged.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLASK_APP=webapp:create_app

WORKDIR /app

RUN useradd --system --create-home --uid 10001 --user-group app

# Dependencies first, so a code change does not reinstall them.
COPY requirements.txt ./
RUN python -m venv /app/.venv \
 && /app/.venv/bin/pip install -r requirements.txt

# The application, copied by name (and .dockerignore keeps .venv, var/ and .env out of the build
# context): a whole-tree copy could bring the host's virtualenv, data or secrets into the image.
COPY alembic.ini .flaskenv Procfile ./
COPY config/ ./config/
COPY accounts/ ./accounts/
COPY etl/ ./etl/
COPY invoicing/ ./invoicing/
COPY notifications/ ./notifications/
COPY jobs/ ./jobs/
COPY tasks/ ./tasks/
COPY webapp/ ./webapp/
COPY migrations/ ./migrations/

# The code stays root-owned and read-only for the app user; only var/ (SQLite, Flower's state, uploads) is writable.
RUN mkdir -p /app/var/uploads && chown -R app:app /app/var
USER app

EXPOSE 8000 5555
CMD [".venv/bin/gunicorn", "-c", "config/gunicorn.conf.py", "webapp:create_app()"]
