# syntax=docker/dockerfile:1
# One image for every LogStream process: the first argument picks ingest, consume, query or init
# (scripts/docker-entrypoint.sh), so compose, a VM or Kubernetes all run the same build.
ARG BUN_VERSION=1.4.5

# Stage 1: production dependencies only, exactly as the committed package-lock.json pins them (Bun reads
# npm's lockfile). Dependencies' install scripts are skipped: none is needed to work.
FROM oven/bun:${BUN_VERSION}-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN bun install --production --frozen-lockfile --ignore-scripts
# The one install step we need: the driver fix package.json's postinstall applies (scripts/patch-postgres.ts).
COPY scripts/patch-postgres.ts ./scripts/
RUN bun scripts/patch-postgres.ts

# Stage 2: the runtime. Code and dependencies belong to root and the process runs as the image's
# unprivileged `bun` user, so a compromised service cannot rewrite its own code.
FROM oven/bun:${BUN_VERSION}-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json schema.sql ./
COPY proto ./proto
COPY src ./src
COPY scripts/docker-entrypoint.sh ./scripts/docker-entrypoint.sh
USER bun
# gRPC, OTLP/gRPC, the shippers' HTTP intake (ingest); the query API.
EXPOSE 50051 4317 4318 8080
ENTRYPOINT ["/app/scripts/docker-entrypoint.sh"]
