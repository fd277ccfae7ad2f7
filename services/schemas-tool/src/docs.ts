/**
 * Renders the tracking plan (schemas/tracking-plan.yaml) and the subject levels
 * (schemas/subjects.yaml) as one Markdown page: the data team's reference for event names.
 * The page is checked in as docs/tracking-plan.md; `schemas docs --check` fails when it is stale.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { SchemaInputError } from './errors.ts';
import type { SubjectEntry } from './subject-map.ts';

export interface PlanEvent {
  description?: string;
  tier: number;
  aliases?: string[];
  anonymous?: string;
  required?: string[];
  optional?: Record<string, string>;
  properties?: Record<string, string>;
  property_aliases?: Record<string, string[]>;
  property_fallbacks?: Record<string, string[]>;
  dedupe_key?: string[];
  profile_rollup?: boolean;
}

export interface TrackingPlan {
  version: string;
  naming?: { fold?: string };
  unplanned_events?: string;
  events: Record<string, PlanEvent>;
  order_guards?: Array<{ after: string; suppress: string[]; match_on: string[]; only_if_older?: boolean; only_cart_snapshots?: boolean }>;
  bot_filter?: { drop_tiers?: number[]; user_agent_patterns?: string[] };
}

export const TRACKING_PLAN_FILE = 'tracking-plan.yaml';

export function loadTrackingPlan(schemasDir: string): TrackingPlan {
  const path = join(schemasDir, TRACKING_PLAN_FILE);
  let doc: unknown;
  try {
    doc = parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new SchemaInputError(`cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const plan = doc as Partial<TrackingPlan> | null;
  const problems: string[] = [];
  if (plan === null || typeof plan !== 'object') throw new SchemaInputError(`${path}: not a YAML mapping`);
  if (typeof plan.version !== 'string') problems.push('version must be a string');
  if (plan.events === undefined || typeof plan.events !== 'object') problems.push('events must be a mapping');
  for (const [name, ev] of Object.entries(plan.events ?? {})) {
    if (typeof ev?.tier !== 'number') problems.push(`events.${name}.tier must be a number`);
    for (const req of ev?.required ?? []) {
      if (propertyType(ev, req) === undefined) problems.push(`events.${name}: required property ${req} has no type in properties`);
    }
  }
  if (problems.length > 0) throw new SchemaInputError(`${path}:\n  - ${problems.join('\n  - ')}`);
  return plan as TrackingPlan;
}

function propertyType(ev: PlanEvent, name: string): string | undefined {
  return ev.properties?.[name] ?? ev.optional?.[name];
}

const TIERS: Record<number, string> = {
  1: 'revenue, hard fail: a missing or invalid required property quarantines the event',
  2: 'browse: accepted and flagged with a warning code when something is off',
};

const ANONYMOUS: Record<string, string> = {
  forward: 'forwarded under the anonymous id straight away; merged into the profile once the shopper is identified',
  hold: 'held while the shopper is anonymous and sent under their customer id once they are identified',
};

const LEVELS: Array<[string, string]> = [
  ['BACKWARD', 'the new schema reads data written with the latest previous version: consumers upgrade first'],
  ['FORWARD', 'readers built on the latest previous version read data written with the new schema: producers upgrade first'],
  ['FULL', 'both: producers and consumers upgrade in any order'],
  ['..._TRANSITIVE', 'the same against every previous version, not only the latest: needed wherever old records are kept and replayed'],
];

const code = (s: string): string => `\`${s}\``;
const list = (xs: readonly string[] | undefined): string => (xs === undefined || xs.length === 0 ? '-' : xs.map(code).join(', '));
const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderTrackingPlanDocs(plan: TrackingPlan, subjects: readonly SubjectEntry[]): string {
  const out: string[] = [];
  const events = Object.entries(plan.events);
  out.push(
    '<!-- Generated from schemas/tracking-plan.yaml and schemas/subjects.yaml by `npm run schemas -- docs`. Do not edit by hand. -->',
    '',
    '# Tracking plan',
    '',
    `Version ${code(plan.version)}: stamped on every canonical event as ${code('tracking_version')}. Bump it on every change to the plan.`,
    '',
    'The normalizer reads `schemas/tracking-plan.yaml`; this page is rendered from it. Send events under their canonical',
    'name or any alias below.',
    '',
    '## Naming',
    '',
    `- Incoming names fold to ${code(plan.naming?.fold ?? 'snake_case')} before aliases apply: "addToCart", "Added To Cart" and`,
    '  "added-to-cart" all become `added_to_cart`.',
    `- Names not in the plan: ${code(plan.unplanned_events ?? 'flag')} (${plan.unplanned_events === 'block'
      ? 'quarantined'
      : `kept as tier 2 with the warning ${code('unplanned_event')}`}).`,
    '',
    '## Events',
    '',
    '| event | tier | aliases | required properties | anonymous | dedupe key |',
    '|---|---|---|---|---|---|',
  );
  for (const [name, ev] of events) {
    const required = (ev.required ?? []).map((p) => `${code(p)} (${propertyType(ev, p) ?? '?'})`).join(', ') || '-';
    out.push(`| [${code(name)}](#${name}) | ${ev.tier} | ${list(ev.aliases)} | ${required} | ${ev.anonymous ?? 'forward'} | ${ev.dedupe_key ? list(ev.dedupe_key) : 'delivery'} |`);
  }
  out.push('');
  for (const [name, ev] of events) out.push(...renderEvent(name, ev));

  out.push('## Order guards', '', 'Late events that must not reach Customer.io after the purchase they lead to.', '');
  if ((plan.order_guards ?? []).length === 0) out.push('None.', '');
  for (const g of plan.order_guards ?? []) {
    const which = `${g.only_cart_snapshots ? ' (cart snapshot lines only)' : ''}${g.only_if_older ? ' that happened before it' : ''}`;
    out.push(`- After ${code(g.after)}: ${list(g.suppress)}${which} for the same ${g.match_on.map(code).join(' or ')} are suppressed (dropped and counted as ${code('suppressed_after_purchase')}).`);
  }
  out.push('');

  const bots = plan.bot_filter;
  out.push('## Bot rules', '');
  if (bots === undefined) {
    out.push('None.', '');
  } else {
    out.push(
      `Events of tier ${(bots.drop_tiers ?? []).join(', ') || '-'} whose end user's agent is a bot are dropped and counted (${code('bot')}), never forwarded; other tiers are flagged (${code('bot_traffic')}). A bot is what the maintained list (npm ${code('isbot')}) names, server-side SDK and webhook agents excepted, or what one of the plan's own patterns matches:`,
      '',
      list(bots.user_agent_patterns),
      '',
    );
  }

  out.push(
    '## Property types',
    '',
    '| type | meaning |',
    '|---|---|',
    '| `string` | text; ids and skus are always strings, never numbers |',
    '| `number` | a decimal number |',
    '| `integer` | a whole number |',
    '| `boolean` | true or false |',
    '| `currency` | upper-case ISO-4217 code |',
    '| `email` | trimmed, lower-cased |',
    '| `timestamp` | a point in time, UTC |',
    '| `items` | line items (`LineItem` in `schemas/avro/canonical-event.avsc`) |',
    '',
  );

  out.push(
    '## Schema compatibility',
    '',
    'Every topic\'s Avro schema is registered under `<topic>-value` at the level below, set explicitly by',
    '`npm run schemas -- register` (the registries differ on what an unset level means). `npm run schemas -- check`',
    'fails, naming the field, when a change breaks the level; CI runs it before anything is registered.',
    '',
    '| level | meaning |',
    '|---|---|',
    ...LEVELS.map(([level, meaning]) => `| ${code(level)} | ${meaning} |`),
    '',
    '| topic | schema | level | why |',
    '|---|---|---|---|',
    ...subjects.map((s) => `| ${code(s.topic)} | ${code(`schemas/avro/${s.file}`)} | ${code(s.compatibility)} | ${cell(s.why)} |`),
    '',
    'Safe at every level: add a field with a default; remove a field that has a default; add an alias.',
    'Breaking at `FULL_TRANSITIVE`: add or remove a field without a default, change a field\'s type, rename without',
    'an alias, add or remove an enum symbol without an enum default. `BACKWARD_TRANSITIVE` (raw topics) also allows',
    'removing a field without a default and widening a type (int -> long -> float -> double, string <-> bytes,',
    'adding a union branch), because only the already upgraded normalizer reads the new records.',
    '',
  );
  return out.join('\n');
}

function renderEvent(name: string, ev: PlanEvent): string[] {
  const out: string[] = [`### ${name}`, ''];
  if (ev.description) out.push(ev.description, '');
  out.push(
    `- Tier: ${ev.tier}${TIERS[ev.tier] ? ` (${TIERS[ev.tier]})` : ''}`,
    `- Aliases: ${list(ev.aliases)}`,
    `- Anonymous: ${code(ev.anonymous ?? 'forward')} (${ANONYMOUS[ev.anonymous ?? 'forward'] ?? 'see the normalizer'})`,
    `- Dedupe key: ${ev.dedupe_key
      ? `${list(ev.dedupe_key)} (one event per ${ev.dedupe_key.join(' + ')}, however many deliveries)`
      : 'the source\'s delivery key (webhook id or messageId)'}`,
  );
  if (ev.profile_rollup) out.push('- Profile rollup: also updates last_order_date, first_order_date, orders_count and lifetime_value');
  out.push('');
  const required = ev.required ?? [];
  const rows: string[] = [];
  for (const p of required) rows.push(`| ${code(p)} | ${propertyType(ev, p) ?? '?'} | yes | ${list(ev.property_aliases?.[p])} |`);
  for (const [p, type] of Object.entries(ev.optional ?? {})) {
    if (!required.includes(p)) rows.push(`| ${code(p)} | ${type} | no | ${list(ev.property_aliases?.[p])} |`);
  }
  if (rows.length === 0) {
    out.push('No properties.', '');
  } else {
    out.push('| property | type | required | also accepted as |', '|---|---|---|---|', ...rows, '');
  }
  for (const [p, sources] of Object.entries(ev.property_fallbacks ?? {})) out.push(`When ${code(p)} is absent it takes ${list(sources)}, which is kept as well.`, '');
  return out;
}
