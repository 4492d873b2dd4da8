# The production image: one image for web, worker and beat (docker-compose.yml picks the command).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 EVALSITE_VAR_DIR=/app/var
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# collectstatic needs settings, and settings refuse a weak key: a random one, used for nothing.
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" python manage.py collectstatic --noinput
RUN useradd --create-home app && mkdir -p /app/var && chown -R app /app/var
USER app
EXPOSE 8000
# Workers, threads, keep-alive and the heartbeat directory come from ./gunicorn.conf.py.
CMD ["gunicorn", "evalsite.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
