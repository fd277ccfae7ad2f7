import type { ErrorCatalog, ErrorCodeDoc } from '@cio-pipeline/core';
import type { DiskStoreErrorCode } from './state/disk/errors.ts';

/**
 * Every error code the normalizer raises. Record-level problems do not throw out of the
 * normalizer: they become quarantine reasons (quarantine-reasons.ts). docs/errors.md is generated from this.
 */
const DISK_STORE_ERRORS = {
  DISK_STORE_OPEN_FAILED: {
    retryable: false,
    meaning: 'The state directory cannot be opened or created (permissions, corruption, disk full).',
    action: 'Check the volume and its permissions; restart. The state is rebuilt from the changelog if the directory is wiped.',
  },
  DISK_STORE_LOCKED: {
    retryable: false,
    meaning: 'Another process holds the state directory (two instances on one volume).',
    action: 'Give each instance its own volume; stop the other process.',
  },
  DISK_STORE_WRITE_FAILED: {
    retryable: false,
    meaning: 'A commit could not be written; the store refuses further use, and the normalizer exits.',
    action: 'Check the volume (full, read-only, gone); the restarted normalizer restores what the disk lacks from the changelogs.',
  },
  DISK_STORE_UNUSABLE: {
    retryable: false,
    meaning: 'The store was used after a failed commit or after close: a follow-on of another error.',
    action: 'Look for the first error in the log; restart.',
  },
  DISK_STORE_BAD_ENTRY: {
    retryable: false,
    meaning: 'A key in the store\'s reserved namespace, or an expiry that is not a timestamp: a programming error.',
    action: 'Report it with the log.',
  },
  DISK_STORE_CORRUPT: {
    retryable: false,
    meaning: 'A stored record does not decode (written by something else, or a damaged file).',
    action: 'Wipe the state directory and restart; the state is restored from the changelog.',
  },
} as const satisfies Record<DiskStoreErrorCode, ErrorCodeDoc>;

export const NORMALIZER_ERRORS = {
  PRODUCT_TABLE_INVALID: {
    retryable: false,
    meaning: 'NORMALIZER_PRODUCT_TABLE cannot be read or a row lacks sku/product_id.',
    action: 'Fix the product table file named in the error and restart.',
  },
  UNPARSEABLE_BODY: {
    retryable: false,
    meaning: 'A raw body is not UTF-8 JSON or not a JSON object.',
    action: 'None at run time: the record is quarantined as `unparseable_body`.',
  },
  NESTING_TOO_DEEP: {
    retryable: false,
    meaning: 'A raw body is nested deeper than 64 levels.',
    action: 'None at run time: the record is quarantined as `nesting_too_deep`.',
  },
  UNIT_OF_WORK_FAILED: {
    retryable: true,
    meaning: 'A chunk or sweep failed; its state changes were rolled back and the input is re-delivered.',
    action: 'Nothing if it passes; if it repeats, the cause in the log (broker, fenced producer) needs fixing.',
  },
  RECORD_WORKER_CRASHED: {
    retryable: true,
    meaning: 'A record worker thread (decode and stateless stages) stopped while it held records of a chunk; the chunk\'s unit of work failed and is re-delivered. A new worker is started at once.',
    action: 'Nothing if it passes; if it repeats, look for the worker\'s error or memory limit in the log.',
  },
  RECORD_WORKER_FAILED: {
    retryable: true,
    meaning: 'A record worker thread failed on a chunk for a reason other than the registry (a registry outage keeps its SERDE_ code); the unit of work is re-delivered.',
    action: 'Look for the worker\'s error in the log; report it if it repeats.',
  },
  ...DISK_STORE_ERRORS,
} as const satisfies ErrorCatalog;

export type NormalizerErrorCode = keyof typeof NORMALIZER_ERRORS;
export const NORMALIZER_ERROR_CODES = Object.keys(NORMALIZER_ERRORS) as NormalizerErrorCode[];
