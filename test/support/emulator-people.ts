/** The Customer.io emulator's people, as end-to-end tests read and wait for them. */
import { anyError, eventually } from './eventually.ts';
import type { RunningService } from './processes.ts';

export interface CioEvent { name: string; id: string; timestamp: number; data: Record<string, unknown> }
export interface CioPerson {
  cio_id: string;
  id: string | null;
  email: string | null;
  anonymous_ids: string[];
  attributes: Record<string, unknown>;
  events: CioEvent[];
}

/** The emulator's person, or undefined when Customer.io would not know them. */
export async function emulatedPerson(emulatorUrl: string, idOrEmail: string): Promise<CioPerson | undefined> {
  const res = await fetch(`${emulatorUrl}/_emulator/people/${encodeURIComponent(idOrEmail)}`);
  return res.status === 200 ? ((await res.json()) as CioPerson) : undefined;
}

/** Waits until the person exists and `ready` holds; a failure names the services that died, with their last lines. */
export async function personWhen(emulatorUrl: string, idOrEmail: string, ready: (p: CioPerson) => boolean, services: readonly RunningService[], timeoutMs = 90_000): Promise<CioPerson> {
  const person = await eventually(`${idOrEmail} in the emulator`, () => emulatedPerson(emulatorUrl, idOrEmail), (p) => p !== undefined && ready(p), {
    timeoutMs, intervalMs: 300, retryOn: anyError,
    context: () => services.filter((x) => x.child.exitCode !== null).map((x) => `${x.name} exited ${x.child.exitCode}:\n${x.output()}`).join('\n\n'),
  });
  return person!;
}

/** personWhen, then a little longer so stragglers (a duplicate, a late attribute) show too. */
export async function settledPerson(emulatorUrl: string, idOrEmail: string, ready: (p: CioPerson) => boolean, services: readonly RunningService[]): Promise<CioPerson> {
  await personWhen(emulatorUrl, idOrEmail, ready, services);
  await new Promise((r) => setTimeout(r, 4000));
  return (await emulatedPerson(emulatorUrl, idOrEmail))!;
}
