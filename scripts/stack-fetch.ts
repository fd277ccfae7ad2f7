/**
 * Fetches the local stack's jars from Maven Central through infra/local-stack/pom.xml into
 * .stack/lib: Kafka (broker and command-line tools) and Apicurio Registry's `all` archive.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const STACK_DIR = join(ROOT, '.stack');
const POM = join(ROOT, 'infra/local-stack/pom.xml');
export const KAFKA_LIB = join(STACK_DIR, 'lib/kafka');
export const APICURIO_DIR = join(STACK_DIR, 'lib/apicurio');

function log(message: string): void {
  process.stderr.write(`[local-stack] ${message}\n`);
}

/**
 * What a fetched directory was fetched for: the pom's hash. A machine whose .stack/lib was filled
 * by an older pom (an empty `.complete`, or another hash) fetches again, so a new jar arrives.
 */
function pomStamp(): string {
  return createHash('sha256').update(readFileSync(POM)).digest('hex');
}

function fetchedFor(dir: string, stamp: string): boolean {
  const marker = join(dir, '.complete');
  return existsSync(marker) && readFileSync(marker, 'utf8').trim() === stamp;
}

/** Downloads the jars once per pom; later runs reuse .stack/lib and the local Maven repository. */
export function fetchStack(): void {
  const stamp = pomStamp();
  if (!fetchedFor(KAFKA_LIB, stamp)) {
    log('fetching Kafka jars from Maven Central (first run, or the pom changed)');
    // Start empty: jars of an older version left beside the new ones would both be on the classpath.
    rmSync(KAFKA_LIB, { recursive: true, force: true });
    runMaven(['dependency:copy-dependencies', `-DoutputDirectory=${KAFKA_LIB}`]);
    writeFileSync(join(KAFKA_LIB, '.complete'), stamp);
  }
  if (!fetchedFor(APICURIO_DIR, stamp)) {
    log('fetching Apicurio Registry from Maven Central (first run, or the pom changed)');
    const downloads = join(STACK_DIR, 'downloads');
    runMaven(['dependency:copy', `-DoutputDirectory=${downloads}`]);
    const archive = readdirSync(downloads).find((f) => f.startsWith('apicurio-registry-app') && f.endsWith('.tar.gz'));
    if (!archive) throw new Error(`no Apicurio archive in ${downloads}`);
    rmSync(APICURIO_DIR, { recursive: true, force: true });
    mkdirSync(APICURIO_DIR, { recursive: true });
    const tar = spawnSync('tar', ['xzf', join(downloads, archive), '-C', APICURIO_DIR], { stdio: 'inherit' });
    if (tar.status !== 0) throw new Error(`could not unpack ${archive}`);
    rmSync(join(downloads, archive));
    writeFileSync(join(APICURIO_DIR, '.complete'), stamp);
  }
}

function runMaven(args: string[]): void {
  const result = spawnSync('mvn', ['-q', '-B', '-f', POM, ...args], { stdio: 'inherit' });
  if (result.error) throw new Error(`could not run mvn (is Maven installed?): ${result.error.message}`);
  if (result.status !== 0) throw new Error(`mvn ${args[0]} failed with exit code ${result.status}`);
}

export function apicurioJar(): string {
  const jar = readdirSync(APICURIO_DIR).find((f) => f.endsWith('-runner.jar'));
  if (!jar) throw new Error(`no Apicurio runner jar in ${APICURIO_DIR}`);
  return join(APICURIO_DIR, jar);
}
