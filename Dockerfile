# One image for every service: Node 24 runs the TypeScript sources directly (type stripping).
FROM node:24-slim
# jemalloc hands freed native memory back to the OS, glibc's malloc keeps much of it: after a cold
# restore of 50M identity links the normalizer held 971 MB of anonymous memory with glibc and 478 MB
# with jemalloc (docs/state-stores.md, "What the cold restore's memory was"). Linked under one path
# whatever the architecture.
RUN apt-get update && apt-get install -y --no-install-recommends libjemalloc2 && rm -rf /var/lib/apt/lists/* \
  && ln -s "$(find /usr/lib -name libjemalloc.so.2 | head -n 1)" /usr/local/lib/libjemalloc.so.2
ENV LD_PRELOAD=/usr/local/lib/libjemalloc.so.2
WORKDIR /app
# Every workspace's package.json first, so `npm ci` is cached until a dependency changes.
# test/ops/docker-compose.test.ts fails when a workspace is missing here.
COPY package.json package-lock.json ./
COPY packages/core/package.json packages/core/
COPY services/emulator/package.json services/emulator/
COPY services/ingest/package.json services/ingest/
COPY services/monitor/package.json services/monitor/
COPY services/normalizer/package.json services/normalizer/
COPY services/sink/package.json services/sink/
COPY services/schemas-tool/package.json services/schemas-tool/
# npm ci's postinstall fixes KafkaJS's produce path (scripts/patch-kafkajs.ts).
COPY scripts/patch-kafkajs.ts scripts/
RUN npm ci --omit=dev --no-audit --no-fund
COPY packages packages
COPY services services
COPY schemas schemas
ENV NODE_ENV=production
USER node
