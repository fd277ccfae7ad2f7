/**
 * One sample of a service's /metrics text: `metricValue(text, 'sink_halted')`, or a labelled
 * series written as Prometheus prints it, `metricValue(text, 'x_total{kind="a"}')`.
 */
export function metricValue(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}
