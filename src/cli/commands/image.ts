/**
 * `dpconform image build`: builds the docker provider's node image ahead of a run (a run builds
 * it too when it is missing).
 */
import { buildNodeImage, type NodeImageBuild } from '../../cluster/providers.ts';
import { logLine } from '../attach.ts';
import { CliError, type Command, EXIT } from '../command.ts';

/** One line saying what `image build` left and where. */
export function describeImageBuild(b: NodeImageBuild): string {
  const seconds = `${(b.ms / 1000).toFixed(1)} s`;
  const how =
    b.how === 'cached'
      ? 'already built'
      : b.how === 'dockerfile'
        ? `built from a Dockerfile in ${seconds}`
        : b.how === 'mmdebstrap'
          ? `built with mmdebstrap in ${seconds}`
          : `imported in ${seconds}`;
  const where = b.engine
    ? `in the Docker engine at ${b.engine}`
    : `as the root file system ${b.rootfs}, which each docker run’s private engine imports`;
  return `${b.tag}: ${how}, ${where}`;
}

/** `dpconform image`. */
export const image: Command = {
  name: 'image',
  summary: 'Build the node image of the docker provider (Debian with ip, tc, bpftool, iptables, tcpdump).',
  usage: 'build [--rebuild]',
  positionals: true,
  options: {
    rebuild: { type: 'boolean', help: 'build it again even if it is there' },
  },
  async run(args) {
    const [action, extra] = args.positionals;
    if (action !== 'build')
      throw new CliError(
        action === undefined ? 'image: say what to do (build)' : `image: unknown action "${action}" (build)`,
        EXIT.usage,
      );
    if (extra !== undefined) throw new CliError(`image: unexpected argument "${extra}"`, EXIT.usage);
    const built = await buildNodeImage({ rebuild: args.values.rebuild === true, log: logLine }).catch(
      (err: unknown) => {
        throw new CliError(
          `image build failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
          EXIT.cannotStart,
        );
      },
    );
    process.stdout.write(`${describeImageBuild(built)}\n`);
    return EXIT.ok;
  },
};
