import type { ErrorCatalog } from '@cio-pipeline/core';

/**
 * The emulator raises no codes of its own, only @cio-pipeline/core's CONFIG_INVALID at start-up.
 * The error bodies it answers with are Customer.io's (docs/platform.md), not ours. A new code
 * belongs here: the errors test then requires it to be documented.
 */
export const EMULATOR_ERRORS = {} as const satisfies ErrorCatalog;

export type EmulatorErrorCode = keyof typeof EMULATOR_ERRORS;
