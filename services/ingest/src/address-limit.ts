/**
 * Caps the requests one remote address may have in flight (being read or waiting for Kafka), so a
 * single sender holding many slow connections cannot take the slots every other source needs.
 * Behind a reverse proxy every request shares the proxy's address: raise the cap there.
 */
export class AddressLimit {
  readonly maxPerAddress: number;
  private readonly held = new Map<string, number>();

  constructor(maxPerAddress: number) {
    this.maxPerAddress = maxPerAddress;
  }

  /** Addresses currently holding at least one slot (a metric, and proof that entries are freed). */
  get addresses(): number {
    return this.held.size;
  }

  tryAcquire(address: string): boolean {
    const n = this.held.get(address) ?? 0;
    if (n >= this.maxPerAddress) return false;
    this.held.set(address, n + 1);
    return true;
  }

  release(address: string): void {
    const n = (this.held.get(address) ?? 0) - 1;
    if (n > 0) this.held.set(address, n);
    else this.held.delete(address);
  }
}

/** One key per client: an IPv4 address seen through an IPv6 socket is the IPv4 address. */
export function addressKey(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined) return 'unknown';
  return remoteAddress.startsWith('::ffff:') ? remoteAddress.slice(7) : remoteAddress;
}
