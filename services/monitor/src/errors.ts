import type { ErrorCatalog } from '@cio-pipeline/core';

/**
 * The monitor raises no codes of its own, only @cio-pipeline/core's (CONFIG_INVALID at start-up,
 * SERDE_* on records it counts and skips). A new code belongs here: the errors test then requires
 * it to be documented, and fails if one is thrown without being listed.
 */
export const MONITOR_ERRORS = {} as const satisfies ErrorCatalog;

export type MonitorErrorCode = keyof typeof MONITOR_ERRORS;
