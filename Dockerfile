FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY pv_service ./pv_service
COPY migrations ./migrations
COPY alerts ./alerts
COPY schemas ./schemas
RUN pip install --no-cache-dir -e .
ENV PV_HOST=0.0.0.0
EXPOSE 8000
CMD ["pv-service", "serve"]
