/**
 * Backpressure with hysteresis: on above `high` accepted-but-unfinished events, off again at or
 * below `low`, so the consumer's partitions are not paused and resumed on every event.
 */
export class Pressure {
  private on = false;
  private readonly high: number;
  private readonly low: number;
  private readonly onChange: (paused: boolean) => void;

  constructor(high: number, low: number, onChange: (paused: boolean) => void = () => undefined) {
    this.high = high;
    this.low = low;
    this.onChange = onChange;
  }

  isOn(): boolean {
    return this.on;
  }

  update(pending: number): void {
    if (!this.on && pending > this.high) {
      this.on = true;
      this.onChange(true);
    } else if (this.on && pending <= this.low) {
      this.on = false;
      this.onChange(false);
    }
  }
}
