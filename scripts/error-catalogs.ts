/**
 * Where every closed list of codes lives: one error catalog per package, plus the normalizer's
 * quarantine reasons and the sink's dead-letter reasons. docs/errors.md is rendered from this, and
 * test/error-codes.test.ts checks the sources against it.
 */
import { CORE_ERRORS, type ErrorCatalog } from '@cio-pipeline/core';
import { EMULATOR_ERRORS } from '../services/emulator/src/errors.ts';
import { INGEST_ERRORS } from '../services/ingest/src/errors.ts';
import { MONITOR_ERRORS } from '../services/monitor/src/errors.ts';
import { NORMALIZER_ERRORS } from '../services/normalizer/src/errors.ts';
import { QUARANTINE_REASONS } from '../services/normalizer/src/quarantine-reasons.ts';
import { SCHEMAS_ERRORS } from '../services/schemas-tool/src/errors.ts';
import { DEAD_LETTER_REASONS } from '../services/sink/src/dead-letter-reasons.ts';
import { SINK_ERRORS } from '../services/sink/src/errors.ts';

export interface PackageCatalog {
  /** The workspace folder, e.g. `services/ingest`. */
  dir: string;
  name: string;
  catalog: ErrorCatalog;
}

export const ERROR_CATALOGS: readonly PackageCatalog[] = [
  { dir: 'packages/core', name: '@cio-pipeline/core', catalog: CORE_ERRORS },
  { dir: 'services/ingest', name: 'ingest', catalog: INGEST_ERRORS },
  { dir: 'services/normalizer', name: 'normalizer', catalog: NORMALIZER_ERRORS },
  { dir: 'services/sink', name: 'sink', catalog: SINK_ERRORS },
  { dir: 'services/emulator', name: 'emulator', catalog: EMULATOR_ERRORS },
  { dir: 'services/monitor', name: 'monitor', catalog: MONITOR_ERRORS },
  { dir: 'services/schemas-tool', name: 'schemas-tool', catalog: SCHEMAS_ERRORS },
];

export const REASON_CATALOGS = [
  {
    title: 'Quarantine reasons (normalizer)',
    intro: '`reasons[].code` on quarantine records; `replay-quarantine --reason` takes one of these. Exported from `services/normalizer/src/quarantine-reasons.ts`.',
    catalog: QUARANTINE_REASONS as ErrorCatalog,
  },
  {
    title: 'Dead-letter reasons (sink)',
    intro: '`reason` on sink.dlq records; `sink replay --reason` takes one of these. Exported from `services/sink/src/dead-letter-reasons.ts`.',
    catalog: DEAD_LETTER_REASONS as ErrorCatalog,
  },
] as const;
