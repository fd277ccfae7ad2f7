/**
 * The few Confluent-compatible registry calls the schemas command needs, over plain fetch.
 * Works against Confluent Schema Registry and Apicurio 3's `/apis/ccompat/v7` (the base URL
 * carries any path prefix).
 */
import { isCompatibilityLevel } from './compatibility.ts';
import type { CompatibilityLevel } from './compatibility.ts';
import { RegistryError } from './errors.ts';

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export interface RegisteredSchema {
  subject: string;
  version: number;
  id: number;
  /** The schema as the registry stores it (a JSON string). */
  schema: string;
}

export interface RegistryVerdict {
  compatible: boolean;
  /** The registry's own explanation, when it gives one (verbose=true). */
  messages: string[];
}

export interface RegistryClientOptions {
  baseUrl: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

export class RegistryClient {
  private readonly baseUrl: string;
  private readonly fetchFn: typeof fetch;
  private readonly timeoutMs: number;

  constructor(opts: RegistryClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.fetchFn = opts.fetch ?? fetch;
    this.timeoutMs = opts.timeoutMs ?? 15_000;
  }

  /** The subject's own compatibility level, or null when it has none (Confluent: 404). */
  async getSubjectLevel(subject: string): Promise<CompatibilityLevel | null> {
    const res = await this.request('GET', `/config/${enc(subject)}`, undefined, [404]);
    if (res.status === 404) return null;
    const body = res.body as { compatibilityLevel?: unknown; compatibility?: unknown };
    const level = body.compatibilityLevel ?? body.compatibility;
    if (!isCompatibilityLevel(level)) throw new RegistryError(`GET /config/${subject}: unexpected answer ${JSON.stringify(res.body)}`, { status: res.status });
    return level;
  }

  /** The registry's default level for subjects without their own; null when it has none (404). */
  async getGlobalLevel(): Promise<CompatibilityLevel | null> {
    const res = await this.request('GET', '/config', undefined, [404]);
    if (res.status === 404) return null;
    const body = res.body as { compatibilityLevel?: unknown; compatibility?: unknown };
    const level = body.compatibilityLevel ?? body.compatibility;
    if (!isCompatibilityLevel(level)) throw new RegistryError(`GET /config: unexpected answer ${JSON.stringify(res.body)}`, { status: res.status });
    return level;
  }

  async setGlobalLevel(level: CompatibilityLevel): Promise<void> {
    await this.request('PUT', '/config', { compatibility: level });
  }

  /** Sets the subject's level explicitly: Apicurio and Confluent differ on what an unset level means. */
  async setSubjectLevel(subject: string, level: CompatibilityLevel): Promise<void> {
    await this.request('PUT', `/config/${enc(subject)}`, { compatibility: level });
  }

  /** Registered version numbers, oldest first; empty when the subject does not exist. */
  async listVersions(subject: string): Promise<number[]> {
    const res = await this.request('GET', `/subjects/${enc(subject)}/versions`, undefined, [404]);
    if (res.status === 404) return [];
    if (!Array.isArray(res.body)) throw new RegistryError(`GET /subjects/${subject}/versions: expected a list, got ${JSON.stringify(res.body)}`);
    return (res.body as unknown[]).map(Number).sort((a, b) => a - b);
  }

  /** One version (or `latest`); null when the subject or version does not exist. */
  async getVersion(subject: string, version: number | 'latest'): Promise<RegisteredSchema | null> {
    const res = await this.request('GET', `/subjects/${enc(subject)}/versions/${version}`, undefined, [404]);
    if (res.status === 404) return null;
    const body = res.body as { subject?: string; version?: number; id?: number; schema?: string };
    if (typeof body.schema !== 'string') throw new RegistryError(`GET /subjects/${subject}/versions/${version}: no schema in ${JSON.stringify(body)}`);
    return { subject: body.subject ?? subject, version: Number(body.version), id: Number(body.id), schema: body.schema };
  }

  /** The registry's verdict on `schema` against the subject's latest version, under its configured level. */
  async testCompatibility(subject: string, schema: string): Promise<RegistryVerdict> {
    const res = await this.request(
      'POST',
      `/compatibility/subjects/${enc(subject)}/versions/latest?verbose=true`,
      { schema },
      [409, 422],
    );
    const body = res.body as { is_compatible?: unknown; messages?: unknown; message?: unknown };
    if (res.status !== 200) {
      // Some registries answer an invalid or incompatible schema with 409/422 instead of a verdict.
      return { compatible: false, messages: [String(body.message ?? JSON.stringify(body))] };
    }
    if (typeof body.is_compatible !== 'boolean') throw new RegistryError(`compatibility check for ${subject}: unexpected answer ${JSON.stringify(body)}`);
    const messages = Array.isArray(body.messages) ? body.messages.map(String) : [];
    return { compatible: body.is_compatible, messages };
  }

  /** Registers `schema` (idempotent: an existing identical schema returns its id). */
  async register(subject: string, schema: string): Promise<{ id: number }> {
    const res = await this.request('POST', `/subjects/${enc(subject)}/versions`, { schema });
    const body = res.body as { id?: unknown };
    if (typeof body.id !== 'number') throw new RegistryError(`POST /subjects/${subject}/versions: no id in ${JSON.stringify(body)}`);
    return { id: body.id };
  }

  private async request(method: string, path: string, body: unknown, allowed: number[] = []): Promise<{ status: number; body: unknown }> {
    const url = `${this.baseUrl}${path}`;
    let res: Response;
    try {
      res = await this.fetchFn(url, {
        method,
        headers: { accept: CONTENT_TYPE, ...(body === undefined ? {} : { 'content-type': CONTENT_TYPE }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new RegistryError(`${method} ${url}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      // Keep the text: an HTML error page from a proxy still says something useful.
    }
    if (res.ok || allowed.includes(res.status)) return { status: res.status, body: parsed };
    const errorBody = (parsed ?? {}) as { error_code?: unknown; message?: unknown };
    const registryCode = typeof errorBody.error_code === 'number' ? errorBody.error_code : undefined;
    const message = typeof errorBody.message === 'string' ? errorBody.message : text.slice(0, 500);
    throw new RegistryError(`${method} ${url}: HTTP ${res.status}: ${message}`, {
      status: res.status,
      ...(registryCode === undefined ? {} : { registryCode }),
    });
  }
}

function enc(subject: string): string {
  return encodeURIComponent(subject);
}
