/**
 * The agent: one long-lived process per pod, node and external client namespace. It serves the
 * echo workload and makes probes for the harness, which talks to it over a unix socket.
 *
 *   node src/workload/agent.ts --socket PATH --name NAME [--listen 80,81,8080] [--cgroup DIR]
 */
import { lstatSync, unlinkSync, writeFileSync } from 'node:fs';
import { parseAgentArgs } from './args.ts';
import { createControlServer } from './control-server.ts';
import { EchoListeners } from './echo-server.ts';
import { StreamTable } from './stream.ts';

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // nothing there
  }
}

async function main(): Promise<void> {
  let args: ReturnType<typeof parseAgentArgs>;
  try {
    args = parseAgentArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  // Before any socket exists: a node's host-networked processes are accounted to its cgroup, so
  // connect-time programs attached there see every flow of this agent.
  if (args.cgroup !== undefined) writeFileSync(`${args.cgroup}/cgroup.procs`, `${process.pid}\n`);

  const echo = new EchoListeners(args.name, log);
  const streams = new StreamTable();
  let stopping = false;
  const stop = async (why: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log(`stopping (${why})`);
    // Never wait long on peers: the harness is waiting for this process to go.
    const hardStop = setTimeout(() => process.exit(0), 2000);
    hardStop.unref();
    control.close();
    control.closeAllConnections();
    removeStaleSocket(args.socket);
    await Promise.allSettled([streams.stopAll(), echo.close()]);
    process.exit(0);
  };
  const control = createControlServer({
    name: args.name,
    echo,
    streams,
    shutdown: () => void stop('shutdown request'),
  });
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  await echo.listen(args.listen);
  removeStaleSocket(args.socket);
  await new Promise<void>((resolve, reject) => {
    control.once('error', reject);
    control.listen(args.socket, () => {
      control.off('error', reject);
      resolve();
    });
  });
  log(
    `agent ${args.name} pid ${process.pid} on ${args.socket}, echo on [${echo.ports().join(',')}], ready ${performance.now().toFixed(0)} ms after start`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`agent failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
