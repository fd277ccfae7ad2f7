/** What a Track API handler decided; the server turns it into a response and a request-log entry. */
export interface ApiResult {
  status: number;
  body: unknown;
  /** Human summary of what was wrong, for the request log and the inspector page. */
  error?: string;
  itemCount?: number;
  /** Accepted, but with something worth knowing (duplicate ignored, identifier conflict). */
  warnings?: string[];
}

export function ok(warnings?: string[]): ApiResult {
  return warnings !== undefined && warnings.length > 0 ? { status: 200, body: {}, warnings } : { status: 200, body: {} };
}
