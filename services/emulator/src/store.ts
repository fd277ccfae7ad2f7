import { createHash } from 'node:crypto';
import { renderable } from './render-depth.ts';
import type { EventType } from './validation.ts';

export type IdentifierKind = 'id' | 'email' | 'cio_id' | 'phone';
export interface Identifier {
  kind: IdentifierKind;
  value: string;
}

/** An event as stored: what was received, plus its place in the receive order. */
export interface StoredEvent extends NewEvent {
  /** Global receive sequence; keeps received order when events from several sources are combined. */
  seq: number;
  suppressed?: boolean;
}

export interface Device {
  id: string;
  platform: string | null;
  last_used: number | null;
  attributes: Record<string, unknown>;
}

export interface Person {
  cio_id: string;
  id: string | null;
  email: string | null;
  phone: string | null;
  anonymous_ids: string[];
  attributes: Record<string, unknown>;
  events: StoredEvent[];
  devices: Device[];
  suppressed: boolean;
}

/** The inspection contract: exactly these fields unless `extended` is asked for. */
export interface PersonView {
  cio_id: string;
  id: string | null;
  email: string | null;
  anonymous_ids: string[];
  attributes: Record<string, unknown>;
  events: Array<{ name: string; id: string | null; timestamp: number; data: Record<string, unknown>; received_at: string; type?: EventType }>;
  phone?: string | null;
  devices?: Device[];
  suppressed?: boolean;
}

export interface NewEvent {
  name: string;
  id: string | null;
  type: EventType;
  timestamp: number;
  data: Record<string, unknown>;
  received_at: string;
}

export interface IdentifyInput {
  /** Attributes to set; `null` or `""` removes one (as Customer.io does). Control keys already removed. */
  attributes: Record<string, unknown>;
  email?: string | undefined;
  id?: string | undefined;
  phone?: string | undefined;
  anonymousId?: string | undefined;
  /** `_update: true`: change an existing person, never create one. */
  updateOnly?: boolean;
}

export type IdentifyResult =
  | { ok: true; person: Person | null; warnings: string[] }
  | { ok: false; reason: 'not_found' | 'too_many_attributes'; message: string };

export type MergeResult = 'merged' | 'primary_not_found' | 'secondary_not_found' | 'same_person';

/** Everything the emulated workspace holds. All operations are synchronous: one request at a time. */
export class EmulatorStore {
  private readonly people = new Map<string, Person>();
  private readonly byId = new Map<string, Person>();
  private readonly byEmail = new Map<string, Person>();
  private readonly byPhone = new Map<string, Person>();
  private readonly byAnonymousId = new Map<string, Person>();
  /** Anonymous events not yet attached to anyone, by anonymous_id ('' = sent without one). */
  private readonly waiting = new Map<string, StoredEvent[]>();
  private readonly seenEventIds = new Set<string>();
  private seq = 0;
  private readonly siteId: string;
  private readonly maxAttributesPerPerson: number;

  constructor(siteId: string, maxAttributesPerPerson: number) {
    this.siteId = siteId;
    this.maxAttributesPerPerson = maxAttributesPerPerson;
  }

  reset(): void {
    this.people.clear();
    this.byId.clear();
    this.byEmail.clear();
    this.byPhone.clear();
    this.byAnonymousId.clear();
    this.waiting.clear();
    this.seenEventIds.clear();
    this.seq = 0;
  }

  get personCount(): number {
    return this.people.size;
  }

  get eventCount(): number {
    let n = 0;
    for (const p of this.people.values()) n += p.events.length;
    return n;
  }

  find(ident: Identifier): Person | undefined {
    switch (ident.kind) {
      case 'id':
        return this.byId.get(ident.value);
      case 'email':
        return this.byEmail.get(ident.value.toLowerCase());
      case 'cio_id':
        return this.people.get(ident.value);
      case 'phone':
        return this.byPhone.get(ident.value);
    }
  }

  /** For the inspection API: an id, an email, a cio_id (with or without `cio_`), or a phone. */
  lookup(key: string): Person | undefined {
    return (
      this.byId.get(key) ??
      this.byEmail.get(key.toLowerCase()) ??
      this.people.get(key.startsWith('cio_') ? key.slice(4) : key) ??
      this.byPhone.get(key)
    );
  }

  all(): Person[] {
    return [...this.people.values()];
  }

  /** A person for an identifier, created if the identifier can create one (never for cio_id). */
  findOrCreate(ident: Identifier): Person | undefined {
    const found = this.find(ident);
    if (found !== undefined || ident.kind === 'cio_id') return found;
    const person = this.create(ident);
    return person;
  }

  identify(ident: Identifier, input: IdentifyInput): IdentifyResult {
    let person = this.find(ident);
    if (person === undefined) {
      if (ident.kind === 'cio_id') return { ok: false, reason: 'not_found', message: `no person with cio_id ${ident.value}` };
      if (input.updateOnly) return { ok: true, person: null, warnings: ['_update: person does not exist, nothing changed'] };
    }
    // Check the per-person attribute cap before touching anything.
    const current = person?.attributes ?? {};
    let count = Object.keys(current).length;
    for (const key in input.attributes) {
      const v = input.attributes[key];
      const removes = v === null || v === '';
      const has = Object.hasOwn(current, key);
      if (removes && has) count--;
      else if (!removes && !has) count++;
    }
    if (count > this.maxAttributesPerPerson) {
      return { ok: false, reason: 'too_many_attributes', message: `a person cannot have more than ${this.maxAttributesPerPerson} attributes` };
    }

    person ??= this.create(ident);
    const warnings: string[] = [];
    if (input.id !== undefined && input.id !== person.id) {
      const owner = this.byId.get(input.id);
      if (owner !== undefined && owner !== person) warnings.push(`id ${input.id} belongs to another person; not changed`);
      else if (person.id !== null && ident.kind !== 'cio_id') warnings.push(`person already has id ${person.id}; id not changed`);
      else this.setId(person, input.id);
    }
    if (input.email !== undefined && input.email.toLowerCase() !== person.email?.toLowerCase()) {
      const owner = this.byEmail.get(input.email.toLowerCase());
      if (owner !== undefined && owner !== person) warnings.push(`email ${input.email} belongs to another person; not changed`);
      else this.setEmail(person, input.email);
    }
    if (input.phone !== undefined && input.phone !== person.phone) {
      const owner = this.byPhone.get(input.phone);
      if (owner !== undefined && owner !== person) warnings.push(`phone ${input.phone} belongs to another person; not changed`);
      else this.setPhone(person, input.phone);
    }
    for (const key in input.attributes) {
      const v = input.attributes[key];
      if (v === null || v === '') delete person.attributes[key];
      else person.attributes[key] = v;
    }
    if (input.anonymousId !== undefined) this.attachAnonymousId(person, input.anonymousId, warnings);
    return { ok: true, person, warnings };
  }

  /** Stores an event on a person; `duplicate` if its id was seen before (the event is ignored). */
  addEvent(person: Person, ev: NewEvent): 'stored' | 'duplicate' {
    if (ev.id !== null) {
      const key = ev.id.toUpperCase();
      if (this.seenEventIds.has(key)) return 'duplicate';
      this.seenEventIds.add(key);
    }
    person.events.push(this.stamp(ev));
    return 'stored';
  }

  isDuplicate(id: string | null): boolean {
    return id !== null && this.seenEventIds.has(id.toUpperCase());
  }

  /** An event with no person: attaches now if the anonymous_id is known, else waits for an identify. */
  addAnonymousEvent(anonymousId: string | null, ev: NewEvent): 'stored' | 'duplicate' {
    if (anonymousId !== null) {
      const owner = this.byAnonymousId.get(anonymousId);
      if (owner !== undefined) return this.addEvent(owner, ev);
    }
    if (ev.id !== null) {
      const key = ev.id.toUpperCase();
      if (this.seenEventIds.has(key)) return 'duplicate';
      this.seenEventIds.add(key);
    }
    const list = this.waiting.get(anonymousId ?? '');
    if (list === undefined) this.waiting.set(anonymousId ?? '', [this.stamp(ev)]);
    else list.push(this.stamp(ev));
    return 'stored';
  }

  waitingAnonymous(): Array<{ anonymous_id: string | null; events: PersonView['events'] }> {
    return [...this.waiting].map(([anon, events]) => ({ anonymous_id: anon === '' ? null : anon, events: events.map((e) => eventView(e, false)) }));
  }

  merge(primaryIdent: Identifier, secondaryIdent: Identifier): MergeResult {
    const primary = this.find(primaryIdent);
    if (primary === undefined) return 'primary_not_found';
    const secondary = this.find(secondaryIdent);
    if (secondary === undefined) return 'secondary_not_found';
    if (primary === secondary) return 'same_person';
    this.remove(secondary);
    // The primary's values win; the secondary only fills gaps.
    for (const key in secondary.attributes) {
      if (!Object.hasOwn(primary.attributes, key)) primary.attributes[key] = secondary.attributes[key];
    }
    if (primary.id === null && secondary.id !== null) this.setId(primary, secondary.id);
    if (primary.email === null && secondary.email !== null) this.setEmail(primary, secondary.email);
    if (primary.phone === null && secondary.phone !== null) this.setPhone(primary, secondary.phone);
    for (const anon of secondary.anonymous_ids) this.attachAnonymousId(primary, anon, []);
    primary.events = mergeBySeq(primary.events, secondary.events);
    for (const d of secondary.devices) if (!primary.devices.some((x) => x.id === d.id)) primary.devices.push(d);
    return 'merged';
  }

  delete(ident: Identifier): boolean {
    const person = this.find(ident);
    if (person === undefined) return false;
    this.remove(person);
    return true;
  }

  upsertDevice(person: Person, device: Device): void {
    const i = person.devices.findIndex((d) => d.id === device.id);
    if (i >= 0) person.devices[i] = device;
    else person.devices.push(device);
  }

  deleteDevice(person: Person, deviceId: string): void {
    person.devices = person.devices.filter((d) => d.id !== deviceId);
  }

  view(person: Person, extended: boolean): PersonView {
    const v: PersonView = {
      cio_id: person.cio_id,
      id: person.id,
      email: person.email,
      anonymous_ids: [...person.anonymous_ids],
      attributes: renderable({ ...person.attributes }),
      events: person.events.map((e) => eventView(e, extended)),
    };
    if (extended) {
      v.phone = person.phone;
      v.devices = person.devices.map((d) => ({ ...d, attributes: renderable(d.attributes) }));
      v.suppressed = person.suppressed;
    }
    return v;
  }

  private stamp(ev: NewEvent): StoredEvent {
    return { name: ev.name, id: ev.id, type: ev.type, timestamp: ev.timestamp, data: ev.data, received_at: ev.received_at, seq: this.seq++ };
  }

  private create(ident: Identifier): Person {
    const person: Person = {
      cio_id: this.newCioId(ident),
      id: null,
      email: null,
      phone: null,
      anonymous_ids: [],
      attributes: {},
      events: [],
      devices: [],
      suppressed: false,
    };
    this.people.set(person.cio_id, person);
    if (ident.kind === 'id') this.setId(person, ident.value);
    else if (ident.kind === 'email') this.setEmail(person, ident.value);
    else if (ident.kind === 'phone') this.setPhone(person, ident.value);
    return person;
  }

  /** Derived from the creating identifier, so the same journey gives the same cio_ids in every run. */
  private newCioId(ident: Identifier): string {
    const value = ident.kind === 'email' ? ident.value.toLowerCase() : ident.value;
    const base = createHash('sha256').update(`${this.siteId}\0${ident.kind}\0${value}`).digest('hex').slice(0, 16);
    let candidate = base;
    for (let n = 1; this.people.has(candidate); n++) candidate = `${base}${n}`;
    return candidate;
  }

  private setId(person: Person, id: string): void {
    if (person.id !== null) this.byId.delete(person.id);
    person.id = id;
    this.byId.set(id, person);
  }

  private setEmail(person: Person, email: string): void {
    if (person.email !== null) this.byEmail.delete(person.email.toLowerCase());
    person.email = email;
    this.byEmail.set(email.toLowerCase(), person);
  }

  private setPhone(person: Person, phone: string): void {
    if (person.phone !== null) this.byPhone.delete(person.phone);
    person.phone = phone;
    this.byPhone.set(phone, person);
  }

  private attachAnonymousId(person: Person, anonymousId: string, warnings: string[]): void {
    const owner = this.byAnonymousId.get(anonymousId);
    if (owner !== undefined && owner !== person) {
      warnings.push(`anonymous_id ${anonymousId} already belongs to another person`);
      return;
    }
    if (owner === undefined) {
      this.byAnonymousId.set(anonymousId, person);
      person.anonymous_ids.push(anonymousId);
    }
    const pending = this.waiting.get(anonymousId);
    if (pending !== undefined) {
      this.waiting.delete(anonymousId);
      person.events = mergeBySeq(person.events, pending);
    }
  }

  private remove(person: Person): void {
    this.people.delete(person.cio_id);
    if (person.id !== null) this.byId.delete(person.id);
    if (person.email !== null) this.byEmail.delete(person.email.toLowerCase());
    if (person.phone !== null) this.byPhone.delete(person.phone);
    for (const anon of person.anonymous_ids) this.byAnonymousId.delete(anon);
  }
}

function eventView(e: StoredEvent, extended: boolean): PersonView['events'][number] {
  const v: PersonView['events'][number] = { name: e.name, id: e.id, timestamp: e.timestamp, data: renderable(e.data), received_at: e.received_at };
  if (extended) v.type = e.type;
  return v;
}

/** Two received-order lists into one received-order list. */
function mergeBySeq(a: StoredEvent[], b: StoredEvent[]): StoredEvent[] {
  if (b.length === 0) return a;
  if (a.length === 0 || (a[a.length - 1]?.seq ?? 0) < (b[0]?.seq ?? 0)) return a.concat(b);
  const out: StoredEvent[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as StoredEvent;
    const y = b[j] as StoredEvent;
    if (x.seq <= y.seq) {
      out.push(x);
      i++;
    } else {
      out.push(y);
      j++;
    }
  }
  while (i < a.length) out.push(a[i++] as StoredEvent);
  while (j < b.length) out.push(b[j++] as StoredEvent);
  return out;
}
