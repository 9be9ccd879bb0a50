/**
 * Everything the kind provider needs that this host may lack, all of it named at once: the kind
 * binary, a Docker engine that answers (kind's nodes are privileged containers, so a private
 * engine of ours will not do), and an image registry (kind pulls its node image, and the pods run
 * agnhost's image). The registry is only asked once kind and the engine are there.
 */
import { haveCommand } from '../../sys/exec.ts';
import { docker, existingEngine } from '../docker/engine.ts';

/** The image the kind provider's pods run: agnhost's netexec, whose API the echo server speaks. */
export const AGNHOST_IMAGE = 'registry.k8s.io/e2e-test-images/agnhost:2.47';

/** What is missing, one item each (empty when the kind provider can run). */
export async function kindMissing(): Promise<string[]> {
  const missing: string[] = [];
  if (!(await haveCommand('kind'))) missing.push('kind is not installed (https://kind.sigs.k8s.io)');
  const engine = await existingEngine();
  if (!engine)
    missing.push(
      'no Docker engine answers (set DOCKER_HOST, or start Docker: kind needs privileged containers)',
    );
  if (missing.length > 0 || !engine) return missing;
  const pull = await docker(engine, ['pull', '--quiet', AGNHOST_IMAGE], {
    reject: false,
    timeoutMs: 5 * 60_000,
  });
  if (pull.exitCode !== 0)
    missing.push(
      `no image registry is reachable (docker pull ${AGNHOST_IMAGE}: ${pull.stderr.trim().split('\n')[0]})`,
    );
  return missing;
}
