import type { Logger } from '@cio-pipeline/core';
import type { AlertTransition } from './alert-rules.ts';
import { webhookHost } from './config.ts';
import type { MonitorMetrics } from './metrics.ts';

/** A Slack-compatible incoming-webhook body: `text` is the fallback every receiver shows. */
export interface SlackBody {
  text: string;
  blocks: Array<Record<string, unknown>>;
}

function percent(share: number): string {
  const p = share * 100;
  return `${p >= 10 || p === 0 ? p.toFixed(1) : p.toPrecision(2)}%`;
}

function duration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${ms / 1000} s`;
}

export function slackBody(t: AlertTransition): SlackBody {
  const scope = t.group === 'all' ? t.rule : `${t.rule} (${t.group})`;
  const measured = `${percent(t.share)} invalid (${t.invalid} of ${t.total} events) over the last ${duration(t.windowMs)}`;
  const text = t.state === 'firing'
    ? `:rotating_light: FIRING: invalid data ${scope}: ${measured}, above the ${percent(t.threshold)} threshold`
    : `:white_check_mark: RESOLVED: invalid data ${scope}: ${measured}, back at or below ${percent(t.clearBelow)}`;
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text } },
      {
        type: 'context',
        elements: [
          { type: 'mrkdwn', text: `rule \`${t.rule}\` · group \`${t.group}\` · fires above ${percent(t.threshold)} with ≥ ${t.minEvents} events · clears at ≤ ${percent(t.clearBelow)} · ${new Date(t.at).toISOString()}` },
        ],
      },
    ],
  };
}

export interface Notifier {
  /** Delivers (with retries) in the order called; never rejects. Resolves true when delivered. */
  notify(t: AlertTransition): Promise<boolean>;
  /** Resolves when every notification handed over so far has finished. */
  idle(): Promise<void>;
}

export interface WebhookNotifierOptions {
  url: string | null;
  timeoutMs: number;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  logger: Logger;
  metrics?: Pick<MonitorMetrics, 'webhookDeliveries'>;
  sleep?: (ms: number) => Promise<void>;
}

const sleepFor = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function isRedirect(status: number): boolean {
  return status >= 300 && status < 400;
}

function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * POSTs alert transitions to a Slack-compatible webhook. Failures are retried with exponential
 * backoff (jittered, capped) and then given up on with a log line: an unreachable chat must never
 * stop the monitor. Notifications go out one at a time so "resolved" never overtakes "firing".
 */
export class WebhookNotifier implements Notifier {
  private readonly opts: WebhookNotifierOptions;
  private readonly host: string | null;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(opts: WebhookNotifierOptions) {
    this.opts = opts;
    this.host = webhookHost(opts.url);
  }

  notify(t: AlertTransition): Promise<boolean> {
    const result = this.chain.then(() => this.deliver(t));
    this.chain = result;
    return result;
  }

  async idle(): Promise<void> {
    await this.chain;
  }

  private async deliver(t: AlertTransition): Promise<boolean> {
    const { url, logger, metrics } = this.opts;
    const log = logger.child({ rule: t.rule, group: t.group, state: t.state, webhookHost: this.host });
    if (url === null) {
      metrics?.webhookDeliveries.inc({ outcome: 'skipped' });
      return false;
    }
    const body = JSON.stringify(slackBody(t));
    const sleep = this.opts.sleep ?? sleepFor;
    for (let attempt = 1; attempt <= this.opts.maxAttempts; attempt++) {
      let retryable = true;
      let problem: string;
      let retryAfterMs = 0;
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          // Never follow a redirect: the alert (and the chance to probe internal hosts from
          // inside the deployment) would go wherever the answer points.
          redirect: 'manual',
          signal: AbortSignal.timeout(this.opts.timeoutMs),
        });
        // Drain the body so the connection is reused; Slack answers "ok" or an error word.
        const answer = (await res.text().catch(() => '')).slice(0, 200);
        if (res.ok) {
          metrics?.webhookDeliveries.inc({ outcome: 'delivered' });
          log.info({ attempt }, 'alert webhook delivered');
          return true;
        }
        retryable = retryableStatus(res.status);
        const after = Number(res.headers.get('retry-after'));
        if (Number.isFinite(after) && after > 0) retryAfterMs = after * 1000;
        problem = isRedirect(res.status)
          ? `HTTP ${res.status}: redirects are not followed; set MONITOR_WEBHOOK_URL to the final URL`
          : `HTTP ${res.status}${answer ? `: ${answer}` : ''}`;
      } catch (err) {
        // Network errors and timeouts. The message never contains the URL's path (undici names the cause).
        problem = (err as Error).name === 'TimeoutError' ? `timed out after ${this.opts.timeoutMs} ms` : (err as Error).message;
      }
      if (!retryable || attempt === this.opts.maxAttempts) {
        metrics?.webhookDeliveries.inc({ outcome: 'failed' });
        log.warn({ attempt, problem }, 'alert webhook failed, giving up');
        return false;
      }
      const backoff = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** (attempt - 1));
      const delay = Math.min(this.opts.backoffMaxMs, Math.max(retryAfterMs, backoff / 2 + Math.random() * (backoff / 2)));
      log.warn({ attempt, problem, retryInMs: Math.round(delay) }, 'alert webhook failed, retrying');
      await sleep(delay);
    }
    return false;
  }
}
