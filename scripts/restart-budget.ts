/**
 * How often a supervisor may restart a service: at most `max` restarts within any `windowMs`.
 * A budget over the whole session would end a long `make dev` (or a chaos run killing services on
 * purpose) after a few unrelated crashes; a rate still stops a service that crashes in a loop.
 */
export class RestartBudget {
  private readonly restarts: number[] = [];
  private readonly max: number;
  private readonly windowMs: number;

  constructor(max = 5, windowMs = 60_000) {
    this.max = max;
    this.windowMs = windowMs;
  }

  /** Records a restart at `now` and says whether it is within the budget. */
  take(now: number = Date.now()): boolean {
    while (this.restarts.length > 0 && this.restarts[0]! <= now - this.windowMs) this.restarts.shift();
    if (this.restarts.length >= this.max) return false;
    this.restarts.push(now);
    return true;
  }
}
