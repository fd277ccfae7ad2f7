import { readFileSync } from 'node:fs';
import { PipelineError } from '../errors.ts';
import { parse as parseYaml } from 'yaml';
import { foldName, MAX_NAME_CHARS } from './names.ts';
import type { PropertyType } from './property-types.ts';
import { anonymousOf, isObj, stringList, tierOf, typeMap, unknownKeys } from './plan-readers.ts';
import { botFilterOf, orderGuardsOf, sourceTopicsOf } from './plan-sections.ts';

/**
 * The tracking plan (schemas/tracking-plan.yaml) loaded, validated and indexed. Every event name,
 * tier, required property, alias and dedupe key the normalizer uses comes from here.
 */

export type Tier = 1 | 2;
export type AnonymousPolicy = 'hold' | 'forward';

export interface EventSpec {
  readonly name: string;
  readonly description: string;
  readonly tier: Tier;
  readonly aliases: readonly string[];
  readonly anonymous: AnonymousPolicy;
  readonly required: readonly string[];
  /** Every declared property (required and optional) with its type. */
  readonly types: ReadonlyMap<string, PropertyType>;
  /** canonical property -> the other names sources use for it. */
  readonly propertyAliases: ReadonlyMap<string, readonly string[]>;
  /** property -> declared properties whose value it takes when it is absent (both are kept). */
  readonly propertyFallbacks: ReadonlyMap<string, readonly string[]>;
  /** Properties whose values identify one business fact, or null (use the delivery key). */
  readonly dedupeKey: readonly string[] | null;
  readonly profileRollup: boolean;
}

export interface IdentifySpec {
  readonly tier: Tier;
  readonly anonymous: AnonymousPolicy;
  readonly attributeTypes: ReadonlyMap<string, PropertyType>;
}

/** What an order guard can match on: the state stage knows where each lives on an event (commerce, cart/checkout token). */
export const ORDER_GUARD_MATCH_FIELDS = ['checkout_id', 'cart_id'] as const;
export type OrderGuardMatchField = (typeof ORDER_GUARD_MATCH_FIELDS)[number];

export interface OrderGuard {
  readonly after: string;
  readonly suppress: readonly string[];
  readonly matchOn: readonly OrderGuardMatchField[];
  /** Suppress only events that happened before the anchor (newer ones are new activity). */
  readonly onlyIfOlder: boolean;
  /** Suppress only cart snapshot lines (Shopify carts/*), not shoppers' own add-to-cart actions. */
  readonly onlyCartSnapshots: boolean;
}

export interface BotFilterSpec {
  readonly dropTiers: readonly Tier[];
  /** As written in the plan. */
  readonly userAgentPatterns: readonly string[];
  /** Compiled: substrings lower-cased, `/regex/` patterns as case-insensitive RegExps. */
  readonly matchers: readonly ((userAgent: string) => boolean)[];
}

export interface EventNameResolution {
  /** The canonical name, or the folded raw name for an unplanned event. */
  readonly name: string;
  /** The plan's entry, or null when the event is not in the plan. */
  readonly spec: EventSpec | null;
  /** How the name was found: already canonical, by folding, by an alias, or not at all. */
  readonly via: 'exact' | 'fold' | 'alias' | 'unplanned';
}

export interface TrackingPlan {
  readonly version: string;
  readonly unplannedEvents: 'flag' | 'block';
  readonly events: ReadonlyMap<string, EventSpec>;
  readonly identify: IdentifySpec;
  readonly orderGuards: readonly OrderGuard[];
  readonly botFilter: BotFilterSpec;
  /** source ('shopify', 'subscriptions') -> topic -> canonical event name or 'identify'. */
  readonly sourceTopics: ReadonlyMap<string, ReadonlyMap<string, string>>;
  resolveEventName(raw: string): EventNameResolution;
  event(name: string): EventSpec | undefined;
  tier(name: string): Tier | undefined;
  anonymousPolicy(name: string): AnonymousPolicy | undefined;
  /** The declared type of a property of an event, if the plan declares it. */
  propertyType(eventName: string, property: string): PropertyType | undefined;
  /** A source's property name -> the canonical property name (via folding and property_aliases), or null if undeclared. */
  resolvePropertyName(eventName: string, rawProperty: string): string | null;
  dedupeKeyFields(eventName: string): readonly string[] | null;
  /** The canonical name (or 'identify') a webhook topic maps to, undefined when the plan ignores it. */
  sourceTopic(source: string, topic: string): string | undefined;
}

export class TrackingPlanError extends PipelineError {
  readonly problems: readonly string[];
  constructor(where: string, problems: readonly string[]) {
    super('TRACKING_PLAN_INVALID', `invalid tracking plan ${where}:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

export const IDENTIFY = 'identify';

export function loadTrackingPlan(path: string): TrackingPlan {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TrackingPlanError(path, [`cannot read the file: ${(err as Error).message}`]);
  }
  return parseTrackingPlan(text, path);
}

const TOP_KEYS = ['version', 'naming', 'unplanned_events', 'identify', 'source_topics', 'events', 'order_guards', 'bot_filter'];
const EVENT_KEYS = ['description', 'tier', 'aliases', 'anonymous', 'required', 'optional', 'properties', 'property_aliases', 'property_fallbacks', 'dedupe_key', 'profile_rollup'];
const IDENTIFY_KEYS = ['tier', 'anonymous', 'attributes'];
/** Names reserved for non-event kinds; an event may not take them. */
const RESERVED_NAMES = ['identify', 'merge', 'delete'];


/** Parses and validates the YAML text; throws one TrackingPlanError naming every problem by its path. */
export function parseTrackingPlan(text: string, where = '(inline)'): TrackingPlan {
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    throw new TrackingPlanError(where, [`not valid YAML: ${(err as Error).message}`]);
  }
  const problems: string[] = [];
  const plan = buildPlan(doc, problems);
  if (problems.length > 0 || plan === null) throw new TrackingPlanError(where, problems.length > 0 ? problems : ['empty plan']);
  return plan;
}


/** The CanonicalEvent.commerce fields and the plan types they can carry. */
export const COMMERCE_FIELD_TYPES: ReadonlyMap<string, readonly PropertyType[]> = new Map<string, readonly PropertyType[]>([
  ...['order_id', 'checkout_id', 'cart_id', 'product_id', 'variant_id', 'sku', 'subscription_id', 'charge_id', 'coupon'].map((f) => [f, ['string']] as const),
  ...['price', 'value', 'total', 'subtotal', 'tax', 'discount', 'revenue', 'shipping'].map((f) => [f, ['number', 'integer']] as const),
  ['quantity', ['integer']],
  ['currency', ['currency']],
  ['items', ['items']],
]);

const NUMERIC: readonly PropertyType[] = ['number', 'integer'];

/**
 * `property_fallbacks: {total: [revenue]}`: an order without total takes its revenue, and keeps
 * revenue too. Unlike an alias, the fallback is a fact of its own that stays distinct when both are sent.
 */
function fallbacksOf(value: unknown, types: ReadonlyMap<string, PropertyType>, path: string, problems: string[]): Map<string, readonly string[]> {
  const out = new Map<string, readonly string[]>();
  if (value === undefined || value === null) return out;
  if (!isObj(value)) {
    problems.push(`${path}.property_fallbacks must be a map of property name to a list of properties`);
    return out;
  }
  for (const [prop, list] of Object.entries(value)) {
    const type = types.get(prop);
    if (type === undefined) problems.push(`${path}.property_fallbacks.${prop} names a property the event does not declare`);
    const sources = stringList(list, `${path}.property_fallbacks.${prop}`, problems);
    for (const source of sources) {
      const sourceType = types.get(source);
      if (sourceType === undefined) problems.push(`${path}.property_fallbacks.${prop}: "${source}" is not a property the event declares`);
      else if (type !== undefined && sourceType !== type && !(NUMERIC.includes(type) && NUMERIC.includes(sourceType))) {
        problems.push(`${path}.property_fallbacks.${prop}: "${source}" is ${sourceType}, ${prop} is ${type}`);
      }
      if (source === prop) problems.push(`${path}.property_fallbacks.${prop} cannot fall back to itself`);
    }
    out.set(prop, sources);
  }
  return out;
}

/** Commerce fields stored as Avro `int` (32 bits), coerced with that range. */
export const INT32_COMMERCE_FIELDS: ReadonlySet<string> = new Set(['quantity']);

function buildEvent(name: string, raw: unknown, problems: string[]): EventSpec | null {
  const path = `events.${name}`;
  if (!isObj(raw)) {
    problems.push(`${path} must be a map`);
    return null;
  }
  unknownKeys(raw, EVENT_KEYS, path, problems);
  if (foldName(name) !== name) problems.push(`${path}: event names must be snake_case (it folds to ${foldName(name)})`);
  if (RESERVED_NAMES.includes(name)) problems.push(`${path}: ${name} is reserved for profile updates`);
  const tier = tierOf(raw['tier'], `${path}.tier`, problems);
  const anonymous = anonymousOf(raw['anonymous'], `${path}.anonymous`, problems);
  const aliases = stringList(raw['aliases'], `${path}.aliases`, problems);
  const required = stringList(raw['required'], `${path}.required`, problems);
  const requiredTypes = typeMap(raw['properties'], `${path}.properties`, problems);
  const optionalTypes = typeMap(raw['optional'], `${path}.optional`, problems);
  const types = new Map<string, PropertyType>(requiredTypes);
  for (const [prop, type] of optionalTypes) {
    if (types.has(prop)) problems.push(`${path}.optional.${prop} is also declared in ${path}.properties`);
    types.set(prop, type);
  }
  for (const prop of required) {
    if (!types.has(prop)) problems.push(`${path}.required: "${prop}" has no type in ${path}.properties`);
  }
  for (const [prop, type] of types) {
    const allowed = COMMERCE_FIELD_TYPES.get(prop);
    if (allowed && !allowed.includes(type)) {
      problems.push(`${path}: ${prop} must be ${allowed.join(' or ')} (it is a commerce field of the canonical event), got ${type}`);
    }
  }
  const propertyAliases = new Map<string, readonly string[]>();
  const pa = raw['property_aliases'];
  if (pa !== undefined && pa !== null) {
    if (!isObj(pa)) problems.push(`${path}.property_aliases must be a map of property name to a list of aliases`);
    else {
      const seen = new Map<string, string>();
      for (const [prop, list] of Object.entries(pa)) {
        if (!types.has(prop)) problems.push(`${path}.property_aliases.${prop} names a property the event does not declare`);
        const names = stringList(list, `${path}.property_aliases.${prop}`, problems);
        for (const alias of names) {
          const folded = foldName(alias);
          const other = seen.get(folded) ?? (types.has(folded) ? folded : undefined);
          if (other !== undefined && other !== prop) problems.push(`${path}.property_aliases.${prop}: "${alias}" already means ${other}`);
          seen.set(folded, prop);
        }
        propertyAliases.set(prop, names);
      }
    }
  }
  const propertyFallbacks = fallbacksOf(raw['property_fallbacks'], types, path, problems);
  let dedupeKey: string[] | null = null;
  if (raw['dedupe_key'] !== undefined && raw['dedupe_key'] !== null) {
    dedupeKey = stringList(raw['dedupe_key'], `${path}.dedupe_key`, problems);
    if (dedupeKey.length === 0) problems.push(`${path}.dedupe_key must list at least one property`);
    for (const prop of dedupeKey) {
      if (!required.includes(prop)) problems.push(`${path}.dedupe_key: "${prop}" must be a required property, or the key could be empty`);
    }
  }
  const rollup = raw['profile_rollup'];
  if (rollup !== undefined && typeof rollup !== 'boolean') problems.push(`${path}.profile_rollup must be true or false`);
  const description = raw['description'];
  if (description !== undefined && typeof description !== 'string') problems.push(`${path}.description must be text`);
  return {
    name,
    description: typeof description === 'string' ? description : '',
    tier,
    aliases,
    anonymous,
    required,
    types,
    propertyAliases,
    propertyFallbacks,
    dedupeKey,
    profileRollup: rollup === true,
  };
}

function buildPlan(doc: unknown, problems: string[]): TrackingPlan | null {
  if (!isObj(doc)) {
    problems.push('the plan must be a YAML map');
    return null;
  }
  unknownKeys(doc, TOP_KEYS, '', problems);
  const version = doc['version'];
  if (typeof version !== 'string' || version.trim() === '') problems.push('version must be a non-empty string (quote it: "2026.11.1")');
  const naming = doc['naming'];
  if (naming !== undefined && !(isObj(naming) && naming['fold'] === 'snake_case' && Object.keys(naming).length === 1)) {
    problems.push('naming.fold must be snake_case (the only folding the normalizer implements)');
  }
  const unplanned = doc['unplanned_events'] ?? 'flag';
  if (unplanned !== 'flag' && unplanned !== 'block') problems.push(`unplanned_events must be flag or block, got ${JSON.stringify(unplanned)}`);

  // Events and the name index: canonical names and aliases, all folded, must be unambiguous.
  const events = new Map<string, EventSpec>();
  const nameIndex = new Map<string, { name: string; via: 'exact' | 'alias' }>();
  const rawEvents = doc['events'];
  if (!isObj(rawEvents) || Object.keys(rawEvents).length === 0) problems.push('events must be a non-empty map of event name to definition');
  else {
    for (const [name, raw] of Object.entries(rawEvents)) {
      const spec = buildEvent(name, raw, problems);
      if (!spec) continue;
      events.set(name, spec);
    }
    for (const spec of events.values()) {
      const prior = nameIndex.get(spec.name);
      if (prior && prior.name !== spec.name) problems.push(`events.${spec.name}: the name is also an alias of ${prior.name}`);
      nameIndex.set(spec.name, { name: spec.name, via: 'exact' });
    }
    for (const spec of events.values()) {
      for (const alias of spec.aliases) {
        const folded = foldName(alias);
        const prior = nameIndex.get(folded);
        if (prior && prior.name !== spec.name) {
          problems.push(`events.${spec.name}.aliases: "${alias}" already means ${prior.name}`);
          continue;
        }
        if (!prior) nameIndex.set(folded, { name: spec.name, via: 'alias' });
      }
    }
  }

  const rawIdentify = doc['identify'];
  let identify: IdentifySpec = { tier: 1, anonymous: 'hold', attributeTypes: new Map() };
  if (!isObj(rawIdentify)) problems.push('identify must be a map with tier and anonymous (how profile updates are validated and held)');
  else {
    unknownKeys(rawIdentify, IDENTIFY_KEYS, 'identify', problems);
    identify = {
      tier: tierOf(rawIdentify['tier'], 'identify.tier', problems),
      anonymous: anonymousOf(rawIdentify['anonymous'], 'identify.anonymous', problems),
      attributeTypes: typeMap(rawIdentify['attributes'], 'identify.attributes', problems),
    };
  }

  const sourceTopics = sourceTopicsOf(doc['source_topics'], events, problems);
  const orderGuards = orderGuardsOf(doc['order_guards'], events, problems);
  const botFilter = botFilterOf(doc['bot_filter'], problems);

  if (problems.length > 0) return null;

  const resolveEventName = (raw: string): EventNameResolution => {
    const exact = events.get(raw);
    if (exact) return { name: raw, spec: exact, via: 'exact' };
    // Longer than any name: judged by its length, never folded (materialize refuses it).
    if (raw.length > MAX_NAME_CHARS) return { name: raw, spec: null, via: 'unplanned' };
    const folded = foldName(raw);
    const hit = nameIndex.get(folded);
    if (hit) return { name: hit.name, spec: events.get(hit.name) ?? null, via: hit.via === 'exact' ? 'fold' : 'alias' };
    return { name: folded, spec: null, via: 'unplanned' };
  };

  // Per event: folded source property name -> canonical property.
  const propertyIndex = new Map<string, Map<string, string>>();
  for (const spec of events.values()) {
    const index = new Map<string, string>();
    for (const prop of spec.types.keys()) index.set(prop, prop);
    for (const [prop, aliases] of spec.propertyAliases) for (const alias of aliases) if (!index.has(foldName(alias))) index.set(foldName(alias), prop);
    propertyIndex.set(spec.name, index);
  }

  const plan: TrackingPlan = {
    version: version as string,
    unplannedEvents: unplanned as 'flag' | 'block',
    events,
    identify,
    orderGuards,
    botFilter,
    sourceTopics,
    resolveEventName,
    event: (name) => events.get(name),
    tier: (name) => (name === IDENTIFY ? identify.tier : events.get(name)?.tier),
    anonymousPolicy: (name) => (name === IDENTIFY ? identify.anonymous : events.get(name)?.anonymous),
    propertyType: (eventName, property) =>
      eventName === IDENTIFY ? identify.attributeTypes.get(property) : events.get(eventName)?.types.get(property),
    resolvePropertyName: (eventName, rawProperty) => {
      const index = propertyIndex.get(eventName);
      if (!index || rawProperty.length > MAX_NAME_CHARS) return null;
      return index.get(rawProperty) ?? index.get(foldName(rawProperty)) ?? null;
    },
    dedupeKeyFields: (eventName) => events.get(eventName)?.dedupeKey ?? null,
    sourceTopic: (source, topic) => sourceTopics.get(source)?.get(topic),
  };
  return Object.freeze(plan);
}
