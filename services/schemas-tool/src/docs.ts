/**
 * Renders the tracking plan (schemas/tracking-plan.yaml) and the subject levels
 * (schemas/subjects.yaml) as one Markdown page: the data team's reference for event names.
 * The page is checked in as docs/tracking-plan.md; `schemas docs --check` fails when it is stale.
 */
import { join } from 'node:path';
import {
  loadTrackingPlan as parsePlanFile, type AnonymousPolicy, type EventSpec, type Tier, type TrackingPlan,
} from '@cio-pipeline/core';
import type { SubjectEntry } from './subject-map.ts';

export const TRACKING_PLAN_FILE = 'tracking-plan.yaml';

/**
 * The plan as the normalizer reads it (core's parser): the page documents what runs, and a plan
 * the normalizer would refuse fails here with the same problems (TRACKING_PLAN_INVALID, exit 2).
 */
export function loadTrackingPlan(schemasDir: string): TrackingPlan {
  return parsePlanFile(join(schemasDir, TRACKING_PLAN_FILE));
}

const TIERS: Record<Tier, string> = {
  1: 'revenue, hard fail: a missing or invalid required property quarantines the event',
  2: 'browse: accepted and flagged with a warning code when something is off',
};

const ANONYMOUS: Record<AnonymousPolicy, string> = {
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
  const events = [...plan.events];
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
    // snake_case is the only folding the parser accepts.
    `- Incoming names fold to ${code('snake_case')} before aliases apply: "addToCart", "Added To Cart" and`,
    '  "added-to-cart" all become `added_to_cart`.',
    `- Names not in the plan: ${code(plan.unplannedEvents)} (${plan.unplannedEvents === 'block'
      ? 'quarantined'
      : `kept as tier 2 with the warning ${code('unplanned_event')}`}).`,
    '',
    '## Events',
    '',
    '| event | tier | aliases | required properties | anonymous | dedupe key |',
    '|---|---|---|---|---|---|',
  );
  for (const [name, ev] of events) {
    const required = ev.required.map((p) => `${code(p)} (${ev.types.get(p) ?? '?'})`).join(', ') || '-';
    out.push(`| [${code(name)}](#${name}) | ${ev.tier} | ${list(ev.aliases)} | ${required} | ${ev.anonymous} | ${ev.dedupeKey ? list(ev.dedupeKey) : 'delivery'} |`);
  }
  out.push('');
  for (const [name, ev] of events) out.push(...renderEvent(name, ev));

  out.push('## Order guards', '', 'Late events that must not reach Customer.io after the purchase they lead to.', '');
  if (plan.orderGuards.length === 0) out.push('None.', '');
  for (const g of plan.orderGuards) {
    const which = `${g.onlyCartSnapshots ? ' (cart snapshot lines only)' : ''}${g.onlyIfOlder ? ' that happened before it' : ''}`;
    out.push(`- After ${code(g.after)}: ${list(g.suppress)}${which} for the same ${g.matchOn.map(code).join(' or ')} are suppressed (dropped and counted as ${code('suppressed_after_purchase')}).`);
  }
  out.push('');

  // The maintained bot list applies with or without a bot_filter section, so the rules are always shown.
  const bots = plan.botFilter;
  out.push(
    '## Bot rules',
    '',
    `Events of tier ${bots.dropTiers.join(', ') || '-'} whose end user's agent is a bot are dropped and counted (${code('bot')}), never forwarded; other tiers are flagged (${code('bot_traffic')}). A bot is what the maintained list (npm ${code('isbot')}) names, server-side SDK and webhook agents excepted, or what one of the plan's own patterns matches:`,
    '',
    list(bots.userAgentPatterns),
    '',
  );

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

function renderEvent(name: string, ev: EventSpec): string[] {
  const out: string[] = [`### ${name}`, ''];
  if (ev.description) out.push(ev.description, '');
  out.push(
    `- Tier: ${ev.tier} (${TIERS[ev.tier]})`,
    `- Aliases: ${list(ev.aliases)}`,
    `- Anonymous: ${code(ev.anonymous)} (${ANONYMOUS[ev.anonymous]})`,
    `- Dedupe key: ${ev.dedupeKey
      ? `${list(ev.dedupeKey)} (one event per ${ev.dedupeKey.join(' + ')}, however many deliveries)`
      : 'the source\'s delivery key (webhook id or messageId)'}`,
  );
  if (ev.profileRollup) out.push('- Profile rollup: also updates last_order_date, first_order_date, orders_count and lifetime_value');
  out.push('');
  const rows: string[] = [];
  for (const p of ev.required) rows.push(`| ${code(p)} | ${ev.types.get(p) ?? '?'} | yes | ${list(ev.propertyAliases.get(p))} |`);
  for (const [p, type] of ev.types) {
    if (!ev.required.includes(p)) rows.push(`| ${code(p)} | ${type} | no | ${list(ev.propertyAliases.get(p))} |`);
  }
  if (rows.length === 0) {
    out.push('No properties.', '');
  } else {
    out.push('| property | type | required | also accepted as |', '|---|---|---|---|', ...rows, '');
  }
  for (const [p, sources] of ev.propertyFallbacks) out.push(`When ${code(p)} is absent it takes ${list(sources)}, which is kept as well.`, '');
  return out;
}
