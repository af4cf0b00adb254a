import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import * as path from 'node:path';
import type { TestCertificate } from './certificates.js';

/** A loopback port nobody listens on now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts connections on the port. */
export async function listening(port: number, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (accepted) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A real `openssl s_server` on a loopback port, serving `certificate` (and `sni.certificate` to clients
 * that ask for `sni.name`): the service whose served certificate the install checks.
 */
export async function startTlsServer(
  directory: string,
  certificate: TestCertificate,
  sni?: { name: string; certificate: TestCertificate },
  port?: number,
): Promise<{ port: number; stop: () => void; process: ChildProcess }> {
  const write = (name: string, text: string) => {
    const file = path.join(directory, name);
    writeFileSync(file, text, { mode: 0o600 });
    return file;
  };
  const chosen = port ?? (await freePort());
  const args = [
    's_server',
    '-quiet',
    '-accept',
    `127.0.0.1:${chosen}`,
    '-cert',
    write(`served-${chosen}.pem`, certificate.certificatePem),
    '-key',
    write(`served-${chosen}.key`, certificate.privateKeyPem),
  ];
  if (sni) {
    args.push(
      '-servername',
      sni.name,
      '-cert2',
      write(`served-sni-${chosen}.pem`, sni.certificate.certificatePem),
      '-key2',
      write(`served-sni-${chosen}.key`, sni.certificate.privateKeyPem),
    );
  }
  const child = spawn('openssl', args, { stdio: 'ignore' });
  await listening(chosen);
  return { port: chosen, process: child, stop: () => child.kill('SIGKILL') };
}
