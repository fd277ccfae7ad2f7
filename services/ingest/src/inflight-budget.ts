/**
 * Bounds memory held by requests: bytes buffered or waiting for Kafka, and the number of such
 * requests. Never waits: when the budget is spent the caller answers 503 at once, so a slow Kafka
 * turns into retries at the sources instead of a growing queue here.
 */
export class InflightBudget {
  readonly maxBytes: number;
  readonly maxRequests: number;
  private bytesHeld = 0;
  private requestsHeld = 0;

  constructor(maxBytes: number, maxRequests: number) {
    this.maxBytes = maxBytes;
    this.maxRequests = maxRequests;
  }

  get bytes(): number {
    return this.bytesHeld;
  }

  get requests(): number {
    return this.requestsHeld;
  }

  tryAcquireRequest(): boolean {
    if (this.requestsHeld >= this.maxRequests) return false;
    this.requestsHeld++;
    return true;
  }

  releaseRequest(): void {
    this.requestsHeld--;
  }

  tryAcquireBytes(n: number): boolean {
    if (this.bytesHeld + n > this.maxBytes) return false;
    this.bytesHeld += n;
    return true;
  }

  releaseBytes(n: number): void {
    this.bytesHeld -= n;
  }
}
