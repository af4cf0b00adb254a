/**
 * Starts moto_server (a local AWS API server) on a free loopback port for the integration suite, and
 * stops it afterwards. It must be installed (`pip install "moto[server]"`): a missing server fails the
 * suite rather than skipping it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    motoEndpoint: string;
  }
}

export default async function startMoto(project: TestProject): Promise<() => Promise<void>> {
  if (spawnSync('moto_server', ['--help'], { stdio: 'ignore' }).error) {
    throw new Error(
      'moto_server is not installed: the integration tests need it (pip install "moto[server]")',
    );
  }
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const server: ChildProcess = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: 'ignore',
  });
  await waitUntilUp(endpoint, server);
  project.provide('motoEndpoint', endpoint);
  return async () => {
    server.kill('SIGTERM');
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function waitUntilUp(endpoint: string, server: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`moto_server exited with code ${server.exitCode}`);
    try {
      const response = await fetch(`${endpoint}/moto-api/`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  server.kill('SIGTERM');
  throw new Error(`moto_server did not answer at ${endpoint} within 30 seconds`);
}
