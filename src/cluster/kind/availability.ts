/**
 * Whether this host can run the kind provider: a Docker engine that answers and the kind binary.
 * Where it cannot, kind code paths skip with the reason this returns.
 */
import { haveCommand, run } from '../../sys/exec.ts';

/** Available, or not with the reason a report shows. */
export type KindAvailability = { available: true } | { available: false; reason: string };

/** Probes Docker and kind without changing anything. */
export async function kindAvailability(): Promise<KindAvailability> {
  if (!(await haveCommand('docker'))) return { available: false, reason: 'docker is not installed' };
  const info = await run(['docker', 'info', '--format', '{{.ServerVersion}}'], {
    reject: false,
    timeoutMs: 10_000,
  }).catch(() => undefined);
  if (info?.exitCode !== 0) {
    const why = info?.stderr.split('\n').find((l) => l.trim() !== '') ?? 'no answer';
    return { available: false, reason: `no Docker engine is running (docker info: ${why.trim()})` };
  }
  if (!(await haveCommand('kind'))) return { available: false, reason: 'kind is not installed' };
  return { available: true };
}
