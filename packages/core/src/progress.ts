/**
 * A progress bar for the operator commands (backfill, replays), drawn on stderr so stdout stays
 * free for the summary. On a non-terminal it prints a line every few seconds instead of redrawing.
 */
export class ProgressBar {
  private readonly label: string;
  private readonly stream: NodeJS.WriteStream;
  private readonly started = Date.now();
  private lastDraw = 0;
  private total: number;

  constructor(label: string, total: number, stream: NodeJS.WriteStream = process.stderr) {
    this.label = label;
    this.total = total;
    this.stream = stream;
  }

  setTotal(total: number): void {
    this.total = total;
  }

  update(done: number, extra = ''): void {
    const now = Date.now();
    const interval = this.stream.isTTY ? 100 : 2000;
    if (now - this.lastDraw < interval && done < this.total) return;
    this.lastDraw = now;
    const ratio = this.total > 0 ? Math.min(done / this.total, 1) : 1;
    const width = 30;
    const filled = Math.round(ratio * width);
    const rate = done / Math.max((now - this.started) / 1000, 0.001);
    const line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total} ${(ratio * 100).toFixed(0)}% ${rate.toFixed(0)}/s${extra ? ` ${extra}` : ''}`;
    this.stream.write(this.stream.isTTY ? `\r${line}` : `${line}\n`);
  }

  finish(done: number, extra = ''): void {
    this.lastDraw = 0;
    this.update(done, extra);
    if (this.stream.isTTY) this.stream.write('\n');
  }
}
