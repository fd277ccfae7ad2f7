import { PipelineError } from '@cio-pipeline/core';

/** Every way the on-disk state store fails on purpose; a test keeps the prefix honest. */
export const DISK_STORE_ERROR_CODES = [
  /** The directory cannot be opened or created (permissions, corruption, disk full). */
  'DISK_STORE_OPEN_FAILED',
  /** Another process holds the directory (two instances on one volume). */
  'DISK_STORE_LOCKED',
  /** A commit could not be written; the store refuses further use (restart and restore the tail). */
  'DISK_STORE_WRITE_FAILED',
  /** Used after a failed commit, or after close. */
  'DISK_STORE_UNUSABLE',
  /** A key in the store's reserved namespace, or an expiry that is not a timestamp. */
  'DISK_STORE_BAD_ENTRY',
  /** A stored record that does not decode (written by something else). */
  'DISK_STORE_CORRUPT',
] as const;

export type DiskStoreErrorCode = (typeof DISK_STORE_ERROR_CODES)[number];

export class DiskStoreError extends PipelineError {
  declare readonly code: DiskStoreErrorCode;
  constructor(code: DiskStoreErrorCode, message: string, opts: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    // Nothing here heals by retrying in place: a broken or locked store needs a restart.
    super(code, message, { ...opts, retryable: false });
  }
}
