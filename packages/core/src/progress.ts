/**
 * The one progress bar of the operator commands (backfill, the quarantine and DLQ replays), drawn
 * on stderr so stdout stays free for the summary. On a terminal it is redrawn in place; off one
 * (CI logs, a pipe) it writes a line at most every few seconds, never one per record.
 */

/** Where the bar is drawn: a stream that may or may not be a terminal. */
export interface ProgressStream {
  readonly isTTY?: boolean;
  write(chunk: string): unknown;
}

export interface ProgressOptions {
  stream?: ProgressStream;
  /** How `done` and `total` are shown (a count by default; `formatBytes` for a file read). */
  format?: (n: number) => string;
  /** Milliseconds between two lines off a terminal. */
  plainIntervalMs?: number;
  /** The clock, replaced in tests. */
  now?: () => number;
}

const TTY_INTERVAL_MS = 100;
const PLAIN_INTERVAL_MS = 5_000;
const WIDTH = 30;

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export class ProgressBar {
  private readonly stream: ProgressStream;
  private readonly format: (n: number) => string;
  private readonly plainIntervalMs: number;
  private readonly now: () => number;
  private readonly started: number;
  private readonly label: string;
  private total: number;
  private lastDraw: number | undefined;

  constructor(label: string, total: number, options: ProgressOptions = {}) {
    this.label = label;
    this.total = total;
    this.stream = options.stream ?? process.stderr;
    this.format = options.format ?? String;
    this.plainIntervalMs = options.plainIntervalMs ?? PLAIN_INTERVAL_MS;
    this.now = options.now ?? Date.now;
    this.started = this.now();
  }

  setTotal(total: number): void {
    this.total = total;
  }

  /** Draws if enough time has passed since the last line; otherwise does nothing. */
  update(done: number, extra = ''): void {
    const now = this.now();
    const interval = this.stream.isTTY ? TTY_INTERVAL_MS : this.plainIntervalMs;
    if (this.lastDraw !== undefined && now - this.lastDraw < interval) return;
    this.draw(now, done, extra);
  }

  /** Always draws the final state, and ends the terminal line. */
  finish(done: number, extra = ''): void {
    this.draw(this.now(), done, extra);
    if (this.stream.isTTY) this.stream.write('\n');
  }

  /** The bar's text for `done` of the total: what update and finish write. */
  render(done: number, extra = '', now = this.now()): string {
    // An unknown total (0) is not "done": the share shows once the total is known.
    const ratio = this.total > 0 ? Math.min(done / this.total, 1) : 0;
    const filled = Math.round(ratio * WIDTH);
    const seconds = Math.max((now - this.started) / 1000, 0.001);
    const rate = `${this.format(Math.round(done / seconds))}/s`;
    const share = this.total > 0 ? `${(ratio * 100).toFixed(0)}%` : '?%';
    return `${this.label} [${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${this.format(done)}/${this.format(this.total)} ${share} ${rate}${extra ? ` ${extra}` : ''}`;
  }

  private draw(now: number, done: number, extra: string): void {
    this.lastDraw = now;
    const line = this.render(done, extra, now);
    this.stream.write(this.stream.isTTY ? `\r${line}` : `${line}\n`);
  }
}
