# One image for every service: Node 24 runs the TypeScript sources directly (type stripping).
FROM node:24-slim
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
