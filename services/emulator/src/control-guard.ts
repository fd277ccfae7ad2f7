import type { IncomingMessage } from 'node:http';

/**
 * The inspection and control API has no credentials: it is meant for the person at this machine.
 * Two ways a web page could reach it anyway, both closed here:
 * - DNS rebinding: a page on attacker.example re-resolves its name to 127.0.0.1; the browser then
 *   sends `Host: attacker.example`. Only hosts on the allow-list are answered.
 * - A cross-origin "simple" POST (text/plain or a form) needs no preflight. State changes take only
 *   `application/json` (which forces a preflight we never grant), and an `Origin`, when sent, must be
 *   the emulator's own or on the allow-list.
 */

export interface ControlGuardOptions {
  /** Hostnames (as URL hostnames: `localhost`, `127.0.0.1`, `[::1]`) the control API answers to. */
  allowedHosts: ReadonlySet<string>;
  /** Origins besides the emulator's own allowed to change state, e.g. `http://127.0.0.1:3000`. */
  allowedOrigins: ReadonlySet<string>;
}

export const LOOPBACK_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '[::1]'];

export interface Refusal {
  status: number;
  error: string;
}

/** The request's Host as a URL hostname, or null when missing or unreadable. */
function hostnameOf(host: string | undefined): string | null {
  if (host === undefined || host === '') return null;
  try {
    return new URL(`http://${host}`).hostname;
  } catch {
    return null;
  }
}

/** Any request to the inspection or control API: the Host must be ours. */
export function refuseHost(req: IncomingMessage, opts: ControlGuardOptions): Refusal | null {
  const hostname = hostnameOf(req.headers.host);
  if (hostname === null || !opts.allowedHosts.has(hostname)) {
    return { status: 403, error: `host ${JSON.stringify(req.headers.host ?? '')} is not allowed (EMULATOR_ALLOWED_HOSTS)` };
  }
  return null;
}

/** A state-changing request: JSON only, and from our own origin or an allowed one when a browser says where from. */
export function refuseStateChange(req: IncomingMessage, opts: ControlGuardOptions): Refusal | null {
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${req.headers.host}` && !opts.allowedOrigins.has(origin)) {
    return { status: 403, error: `origin ${JSON.stringify(origin)} is not allowed (EMULATOR_ALLOWED_ORIGINS)` };
  }
  if (req.headers['sec-fetch-site'] === 'cross-site' && origin === undefined) {
    return { status: 403, error: 'cross-site requests are not allowed' };
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') return { status: 415, error: 'content-type must be application/json' };
  return null;
}
