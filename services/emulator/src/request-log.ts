/** One Track API request as the inspector shows it. */
export interface RequestLogEntry {
  at: string;
  method: string;
  path: string;
  /** 0 when no response was sent (timeout or reset fault). */
  status: number;
  error?: string;
  item_count?: number;
  fault?: string;
  warnings?: string[];
  /** The response body for non-200 answers (207 error lists are cut to the first 50). */
  response?: unknown;
}

/** A bounded, oldest-first ring of request entries; `total` keeps counting past the bound. */
export class RequestLog {
  private readonly limit: number;
  private buffer: RequestLogEntry[] = [];
  private head = 0;
  private totalCount = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  add(entry: RequestLogEntry): void {
    this.totalCount++;
    if (this.buffer.length < this.limit) {
      this.buffer.push(entry);
      return;
    }
    this.buffer[this.head] = entry;
    this.head = (this.head + 1) % this.limit;
  }

  entries(): RequestLogEntry[] {
    return this.head === 0 ? [...this.buffer] : [...this.buffer.slice(this.head), ...this.buffer.slice(0, this.head)];
  }

  get total(): number {
    return this.totalCount;
  }

  get retained(): number {
    return this.buffer.length;
  }

  clear(): void {
    this.buffer = [];
    this.head = 0;
    this.totalCount = 0;
  }
}
