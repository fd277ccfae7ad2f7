import { isObj, stringList, tierOf, unknownKeys } from './plan-readers.ts';
import {
  IDENTIFY, ORDER_GUARD_MATCH_FIELDS, type BotFilterSpec, type EventSpec, type OrderGuard, type OrderGuardMatchField, type Tier,
} from './tracking-plan.ts';

/**
 * The tracking plan's sections beyond events and identify: which source topic feeds which event,
 * the order guards, and the bot filter. Each reads its raw YAML value and pushes every problem it finds.
 */

const GUARD_KEYS = ['after', 'suppress', 'match_on', 'only_if_older', 'only_cart_snapshots'];
const BOT_KEYS = ['drop_tiers', 'user_agent_patterns'];

/** `source_topics`: source -> topic -> event name (or identify); every target must be planned. */
export function sourceTopicsOf(raw: unknown, events: ReadonlyMap<string, EventSpec>, problems: string[]): Map<string, Map<string, string>> {
  const sourceTopics = new Map<string, Map<string, string>>();
  if (raw !== undefined && raw !== null) {
    if (!isObj(raw)) problems.push('source_topics must be a map of source to a map of topic to event name');
    else {
      for (const [source, topics] of Object.entries(raw)) {
        if (!isObj(topics)) {
          problems.push(`source_topics.${source} must be a map of topic to event name`);
          continue;
        }
        const map = new Map<string, string>();
        for (const [topic, target] of Object.entries(topics)) {
          if (typeof target !== 'string' || (target !== IDENTIFY && !events.has(target))) {
            problems.push(`source_topics.${source}.${topic} must name an event of the plan or identify, got ${JSON.stringify(target)}`);
            continue;
          }
          map.set(topic, target);
        }
        sourceTopics.set(source, map);
      }
    }
  }
  return sourceTopics;
}

/** `order_guards`: events suppressed once a later one (`after`) has been seen for the same match_on values. */
export function orderGuardsOf(raw: unknown, events: ReadonlyMap<string, EventSpec>, problems: string[]): OrderGuard[] {
  const orderGuards: OrderGuard[] = [];
  if (raw !== undefined && raw !== null) {
    if (!Array.isArray(raw)) problems.push('order_guards must be a list');
    else {
      raw.forEach((g: unknown, i) => {
        const path = `order_guards[${i}]`;
        if (!isObj(g)) {
          problems.push(`${path} must be a map with after, suppress and match_on`);
          return;
        }
        unknownKeys(g, GUARD_KEYS, path, problems);
        const after = g['after'];
        const afterSpec = typeof after === 'string' ? events.get(after) : undefined;
        if (!afterSpec) problems.push(`${path}.after must name an event of the plan, got ${JSON.stringify(after)}`);
        const suppress = stringList(g['suppress'], `${path}.suppress`, problems);
        const matchOn = stringList(g['match_on'], `${path}.match_on`, problems);
        if (suppress.length === 0) problems.push(`${path}.suppress must list at least one event`);
        if (matchOn.length === 0) problems.push(`${path}.match_on must list at least one property`);
        for (const s of suppress) {
          const spec = events.get(s);
          if (!spec) problems.push(`${path}.suppress: "${s}" is not an event of the plan`);
          else if (!matchOn.some((m) => spec.types.has(m))) problems.push(`${path}.suppress: ${s} declares none of match_on (${matchOn.join(', ')})`);
        }
        for (const m of matchOn) {
          if (afterSpec && !afterSpec.types.has(m)) problems.push(`${path}.match_on: "${m}" is not a property of ${afterSpec.name}`);
          // Checked here, not when the state stage starts: a plan that passes must not stop the normalizer.
          if (!isMatchField(m)) problems.push(`${path}.match_on: "${m}" cannot be matched (an order guard matches on ${ORDER_GUARD_MATCH_FIELDS.join(' or ')})`);
        }
        const onlyIfOlder = g['only_if_older'] ?? false;
        if (typeof onlyIfOlder !== 'boolean') problems.push(`${path}.only_if_older must be true or false`);
        const onlyCartSnapshots = g['only_cart_snapshots'] ?? false;
        if (typeof onlyCartSnapshots !== 'boolean') problems.push(`${path}.only_cart_snapshots must be true or false`);
        if (typeof after === 'string') orderGuards.push({ after, suppress, matchOn: matchOn.filter(isMatchField), onlyIfOlder: onlyIfOlder === true, onlyCartSnapshots: onlyCartSnapshots === true });
      });
    }
  }
  return orderGuards;
}

const isMatchField = (m: string): m is OrderGuardMatchField => (ORDER_GUARD_MATCH_FIELDS as readonly string[]).includes(m);

/** `bot_filter`: tiers dropped for user agents matching a substring or a /regular expression/. */
export function botFilterOf(raw: unknown, problems: string[]): BotFilterSpec {
  let botFilter: BotFilterSpec = { dropTiers: [], userAgentPatterns: [], matchers: [] };
  if (raw !== undefined && raw !== null) {
    if (!isObj(raw)) problems.push('bot_filter must be a map with drop_tiers and user_agent_patterns');
    else {
      unknownKeys(raw, BOT_KEYS, 'bot_filter', problems);
      const tiersRaw = raw['drop_tiers'] ?? [];
      const dropTiers: Tier[] = [];
      if (!Array.isArray(tiersRaw)) problems.push('bot_filter.drop_tiers must be a list of tiers');
      else tiersRaw.forEach((t: unknown, i) => dropTiers.push(tierOf(t, `bot_filter.drop_tiers[${i}]`, problems)));
      const patterns = stringList(raw['user_agent_patterns'], 'bot_filter.user_agent_patterns', problems);
      const matchers: ((ua: string) => boolean)[] = [];
      patterns.forEach((p, i) => {
        if (p.length > 2 && p.startsWith('/') && p.endsWith('/')) {
          try {
            const re = new RegExp(p.slice(1, -1), 'i');
            matchers.push((ua) => re.test(ua));
          } catch (err) {
            problems.push(`bot_filter.user_agent_patterns[${i}] is not a valid regular expression: ${(err as Error).message}`);
          }
        } else {
          const needle = p.toLowerCase();
          matchers.push((ua) => ua.toLowerCase().includes(needle));
        }
      });
      botFilter = { dropTiers, userAgentPatterns: patterns, matchers };
    }
  }
  return botFilter;
}
