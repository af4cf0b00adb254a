import { Sha256 } from '@aws-crypto/sha256-js';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { mockClient } from 'aws-sdk-client-mock';
import { type IncomingMessage, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { VERSION, follow, mappingLines, runCli } from '../../../lib/cli/cli.js';
import { REQUEST, stackWithOutputs } from '../../helpers/fixtures.js';

const CREDENTIALS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  sessionToken: 'session-token',
};
const ENV = {
  AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
  AWS_SESSION_TOKEN: CREDENTIALS.sessionToken,
};

interface Received {
  readonly method: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  readonly signatureValid: boolean;
}

let server: Server;
let url: string;
let received: Received[];
let answer: { status: number; body: unknown };

/** A stand-in for the deployed API: it checks the SigV4 signature as API Gateway would, then answers. */
beforeAll(async () => {
  // The CLI reads credentials through the standard chain, whose first link is the environment.
  Object.assign(process.env, ENV);
  server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', async () => {
      const amzDate = String(request.headers['x-amz-date']);
      const signingDate = new Date(
        `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
      );
      const expected = await new SignatureV4({
        service: 'execute-api',
        region: 'eu-west-1',
        credentials: CREDENTIALS,
        sha256: Sha256,
      }).sign(
        new HttpRequest({
          method: request.method!,
          protocol: 'http:',
          hostname: '127.0.0.1',
          port: (server.address() as AddressInfo).port,
          path: request.url!,
          headers: {
            host: String(request.headers.host),
            'content-type': String(request.headers['content-type']),
          },
          body,
        }),
        { signingDate },
      );
      received.push({
        method: request.method!,
        headers: request.headers,
        body,
        signatureValid: expected.headers.authorization === request.headers.authorization,
      });
      response.writeHead(answer.status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/export-cert`;
});
afterAll(async () => {
  for (const name of Object.keys(ENV)) delete process.env[name];
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

let lines: string[];
let errors: string[];
const io = {
  out: (line: string) => lines.push(line),
  err: (line: string) => errors.push(line),
  sleep: async () => {},
};
beforeEach(() => {
  received = [];
  lines = [];
  errors = [];
  answer = {
    status: 202,
    body: {
      executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:req-1',
      startDate: 1,
    },
  };
});

const exportArgs = () => [
  'export',
  '--cert-arn',
  REQUEST.CertificateArn,
  '--name',
  'web-server',
  '--tag',
  'env=dev',
  '--api-url',
  url,
  '--region',
  'eu-west-1',
];

describe('cli export', () => {
  it('sends the request SigV4-signed with the standard credential chain, and prints the execution ARN', async () => {
    expect(await runCli(exportArgs(), io, ENV)).toBe(0);
    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request!.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$/,
    );
    expect(request!.headers['x-amz-security-token']).toBe('session-token');
    expect(request!.signatureValid).toBe(true);
    expect(JSON.parse(request!.body)).toEqual(REQUEST);
    expect(lines).toEqual(['arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:req-1']);
  });

  it('asks for a dry run', async () => {
    await runCli([...exportArgs(), '--dry-run'], io, ENV);
    expect(JSON.parse(received[0]!.body)).toEqual({ ...REQUEST, DryRun: true });
  });

  it('names the install profile of the hosts, checked by the same rule as the API', async () => {
    await runCli([...exportArgs(), '--profile', 'haproxy'], io, ENV);
    expect(JSON.parse(received[0]!.body)).toEqual({ ...REQUEST, Profile: 'haproxy' });
    expect(await runCli([...exportArgs(), '--profile', 'HAProxy!'], io, ENV)).toBe(2);
    expect(received).toHaveLength(1);
    expect(errors[0]).toMatch(/^Usage error: not sent: Profile is not valid/);
  });

  it('names the member account and Region of the hosts, together or not at all', async () => {
    const member = ['--target-account', '444455556666', '--target-region', 'eu-central-1'];
    await runCli([...exportArgs(), ...member], io, ENV);
    expect(JSON.parse(received[0]!.body)).toEqual({
      ...REQUEST,
      TargetAccount: '444455556666',
      TargetRegion: 'eu-central-1',
    });
    expect(await runCli([...exportArgs(), '--target-account', '444455556666'], io, ENV)).toBe(2);
    expect(received).toHaveLength(1);
    expect(errors[0]).toMatch(/^Usage error: not sent: TargetAccount and TargetRegion go together/);
  });

  it('checks the request with the same rules as the API and sends nothing when it breaks them', async () => {
    const args = exportArgs().map((arg) => (arg === 'web-server' ? '../etc' : arg));
    expect(await runCli(args, io, ENV)).toBe(2);
    expect(received).toEqual([]);
    expect(errors[0]).toMatch(/^Usage error: not sent: CertName is not valid/);
  });

  it('fails with what the API said when it refuses', async () => {
    answer = { status: 400, body: { message: 'Invalid request body' } };
    expect(await runCli(exportArgs(), io, ENV)).toBe(1);
    expect(errors[0]).toBe('The API answered 400: {"message":"Invalid request body"}');
  });

  it('says when the API throttled the request, and exits 75 so a script can try again', async () => {
    answer = {
      status: 429,
      body: { message: 'Too many export requests: this API accepts 2 per second, 4 at once.' },
    };
    expect(await runCli(exportArgs(), io, ENV)).toBe(75);
    expect(errors).toEqual([
      'Throttled (429): Too many export requests: this API accepts 2 per second, 4 at once.; nothing started, try again',
    ]);
    expect(lines).toEqual([]);
  });

  it('prints help, for all commands and for each', async () => {
    expect(await runCli(['--help'], io, ENV)).toBe(0);
    expect(lines[0]).toMatch(/^Usage: npx cert-lifecycle <command>/);
    for (const args of [
      ['help', 'export'],
      ['export', '--help'],
      ['export', '-h'],
    ]) {
      lines = [];
      expect(await runCli(args, io, ENV)).toBe(0);
      expect(lines[0]).toMatch(
        /^Usage: npx cert-lifecycle export --cert-arn ARN --name NAME --tag KEY=VALUE \[--target-account ID\] \[--target-region REGION\] \[--profile NAME\]/,
      );
      expect(lines[0]).not.toContain('--remove-files');
    }
    expect(received).toEqual([]);
  });

  it('prints its version', async () => {
    expect(await runCli(['--version'], io, ENV)).toBe(0);
    expect(lines).toEqual([VERSION]);
    expect(VERSION).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('prints one JSON document with --output json, and nothing else on standard output', async () => {
    expect(await runCli([...exportArgs(), '--output', 'json'], io, ENV)).toBe(0);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toEqual({
      executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:req-1',
      startDate: 1,
    });
  });
});

describe('cli unmap', () => {
  const unmapArgs = () => ['unmap', ...exportArgs().slice(1)];

  it('sends the four fields as a signed DELETE and prints what the API did', async () => {
    answer = {
      status: 200,
      body: { unmapped: true, message: 'web-server (…) on instances tagged env=dev is unmapped: …' },
    };
    expect(await runCli(unmapArgs(), io, ENV)).toBe(0);
    expect(received[0]).toMatchObject({ method: 'DELETE', signatureValid: true });
    expect(JSON.parse(received[0]!.body)).toEqual(REQUEST);
    expect(lines).toEqual(['web-server (…) on instances tagged env=dev is unmapped: …']);
  });

  it("exits 0 with the API's words when there was nothing to unmap", async () => {
    answer = {
      status: 200,
      body: { unmapped: false, message: 'web-server … was not mapped: nothing to do' },
    };
    expect(await runCli(unmapArgs(), io, ENV)).toBe(0);
    expect(lines).toEqual(['web-server … was not mapped: nothing to do']);
  });

  it('asks for the files to be removed too', async () => {
    answer = { status: 200, body: { message: 'x' } };
    await runCli([...unmapArgs(), '--remove-files'], io, ENV);
    expect(JSON.parse(received[0]!.body)).toEqual({ ...REQUEST, RemoveFiles: true });
  });

  it('refuses --dry-run, sending nothing: an unmap has no dry run', async () => {
    expect(await runCli([...unmapArgs(), '--dry-run'], io, ENV)).toBe(2);
    expect(received).toEqual([]);
    expect(errors[0]).toMatch(
      /^Usage error: unmap does not take --dry-run: unmap has no dry run, and does what it says at once; to see what it would remove, run: mappings --cert-arn ARN\./,
    );
  });

  it("prints the API's answer as one JSON document with --output json", async () => {
    answer = { status: 200, body: { unmapped: true, message: 'done' } };
    expect(await runCli([...unmapArgs(), '--output', 'json'], io, ENV)).toBe(0);
    expect(lines.map((line) => JSON.parse(line) as unknown)).toEqual([{ unmapped: true, message: 'done' }]);
  });
});

describe('cli follow', () => {
  const sfn = mockClient(SFNClient);
  beforeEach(() => sfn.reset());

  it('prints each state as it is entered, then the per-instance result, exit 0', async () => {
    sfn
      .on(GetExecutionHistoryCommand)
      .resolvesOnce({
        events: [
          {
            id: 1,
            type: 'TaskStateEntered',
            timestamp: new Date(),
            stateEnteredEventDetails: { name: 'ExportCertificate' },
          },
        ],
      })
      .resolves({
        events: [
          {
            id: 1,
            type: 'TaskStateEntered',
            timestamp: new Date(),
            stateEnteredEventDetails: { name: 'ExportCertificate' },
          },
          {
            id: 2,
            type: 'TaskStateEntered',
            timestamp: new Date(),
            stateEnteredEventDetails: { name: 'RecordAndInstall' },
          },
        ],
      });
    sfn
      .on(DescribeExecutionCommand)
      .resolvesOnce({ status: 'RUNNING' } as never)
      .resolves({
        status: 'SUCCEEDED',
        output: JSON.stringify({
          instances: [
            { instanceId: 'i-0aaa', status: 'Success' },
            {
              instanceId: 'i-0bbb',
              status: 'Success',
              result: { status: 'installed', serial: '0a:1b', served: '0a:1b', formats: 'pem' },
            },
            {
              instanceId: 'i-0ccc',
              status: 'Success',
              result: { status: 'unchanged', serial: '0a:1b', served: 'unchecked' },
            },
          ],
        }),
      } as never);
    const code = await follow(new SFNClient({ region: 'eu-west-1' }), 'arn:execution', io, { pollMs: 0 });
    expect(code).toBe(0);
    expect(lines.slice(0, 6)).toEqual([
      '… ExportCertificate',
      '… RecordAndInstall',
      'SUCCEEDED',
      '  i-0aaa  Success',
      '  i-0bbb  Success  installed  serial 0a:1b  served 0a:1b',
      '  i-0ccc  Success  unchanged  serial 0a:1b',
    ]);
  });

  it("prints a dry run's verdict, what blocks it and each host's findings; exit 1 when not ready", async () => {
    const dryRun = {
      dryRun: true,
      certificateArn: REQUEST.CertificateArn,
      target: 'env=prod',
      exportable: true,
      profile: 'default',
      instances: [
        { instanceId: 'i-0aaa', ready: true, platform: 'Amazon Linux 2023', agentVersion: '3.3.1142.0' },
        {
          instanceId: 'i-0bbb',
          ready: false,
          notReadyBecause: 'role web-hosts has no tag env',
          host: {
            status: 'not ready',
            checks: [
              { item: 'tools', verdict: 'ok', words: 'OpenSSL 3.0.13, aws-cli/2.22.0, flock' },
              { item: 'role-tag', verdict: 'problem', words: 'role web-hosts has no tag env' },
              { item: 'journal', verdict: 'note', words: 'an install of web was interrupted' },
            ],
          },
        },
        { instanceId: 'i-0ccc', ready: false, notReadyBecause: 'agent is ConnectionLost' },
      ],
      hostCheck: { mode: 'preflight', instanceIds: ['i-0aaa', 'i-0bbb'], pending: false },
      ready: false,
    };
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    sfn
      .on(DescribeExecutionCommand)
      .resolves({ status: 'SUCCEEDED', output: JSON.stringify(dryRun) } as never);
    expect(await follow(new SFNClient({ region: 'eu-west-1' }), 'arn:execution', io, { pollMs: 0 })).toBe(1);
    expect(lines).toEqual([
      'NOT READY  env=prod  profile default  (preflight on 2 host(s))',
      '  i-0aaa  ready  (Amazon Linux 2023, agent 3.3.1142.0)',
      '  i-0bbb  not ready',
      '      problem role-tag: role web-hosts has no tag env',
      '      note journal: an install of web was interrupted',
      '  i-0ccc  not ready: agent is ConnectionLost',
    ]);
  });

  it('exits 1 with the error and cause of a failed execution', async () => {
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    sfn.on(DescribeExecutionCommand).resolves({
      status: 'FAILED',
      error: 'InstallFailed',
      cause: '1 of 2 instances failed: i-0b Failed',
    } as never);
    expect(await follow(new SFNClient({ region: 'eu-west-1' }), 'arn:execution', io, { pollMs: 0 })).toBe(1);
    expect(errors).toEqual(['InstallFailed: 1 of 2 instances failed: i-0b Failed']);
  });
});

describe('cli mappings, per host', () => {
  const mapping = {
    TagKeyValue: 'env=dev',
    'CertificateArn#CertName': `${REQUEST.CertificateArn}#web-server`,
    CertificateArn: REQUEST.CertificateArn,
    CertName: 'web-server',
    TargetTagKey: 'env',
    TargetTagValue: 'dev',
    Serial: '0a:1b',
    CertExpiryDate: '2027-12-24T23:59:59.000Z',
    LastInstallStatus: 'Success' as const,
    LastInstallDate: '2026-11-24T10:01:00.000Z',
    AssociationId: 'assoc-1',
    AssociationName: 'Install-ACMCertificate.web-server.0123456789abcdef',
  };

  it('shows each host: the serial it holds, when it was last applied and succeeded, the last error', () => {
    const lines = mappingLines(
      mapping,
      [
        {
          AssociationId: 'assoc-1',
          InstanceId: 'i-0aaa',
          Status: 'Success',
          Serial: '0a:1b',
          LastExecutionDate: '2026-11-25T02:00:00.000Z',
          LastSuccessfulExecutionDate: '2026-11-25T02:00:00.000Z',
        },
        {
          AssociationId: 'assoc-1',
          InstanceId: 'i-0bbb',
          Status: 'Failed',
          ErrorCode: 'Failed',
          ExecutionSummary: '1 out of 1 plugin processed, 1 failed',
          LastExecutionDate: '2026-11-25T02:00:00.000Z',
        },
      ],
      Date.parse('2026-11-27T00:00:00.000Z'),
    );
    expect(lines).toEqual([
      `env=dev  web-server  ${REQUEST.CertificateArn}  profile default  serial 0a:1b  expires 2027-12-24T23:59:59.000Z (392 days left)  Success 2026-11-24T10:01:00.000Z  association Install-ACMCertificate.web-server.0123456789abcdef`,
      '    i-0aaa  Success  serial 0a:1b  applied 2026-11-25T02:00:00.000Z  last success 2026-11-25T02:00:00.000Z',
      '    i-0bbb  Failed  serial ?  applied 2026-11-25T02:00:00.000Z  last success never  error Failed: 1 out of 1 plugin processed, 1 failed',
    ]);
  });
});

describe('cli uninstall', () => {
  const cloudFormation = mockClient(CloudFormationClient);
  const dynamo = mockClient(DynamoDBDocumentClient);
  const second = { ...REQUEST, CertName: 'api', TargetTagValue: 'prod' };
  beforeEach(() => {
    cloudFormation.reset();
    dynamo.reset();
    cloudFormation.on(DescribeStacksCommand).resolves(
      stackWithOutputs({
        ExportCertUrl: url,
        InventoryTableName: 'Mappings',
        HostStatesTableName: 'Hosts',
      }),
    );
    dynamo.on(ScanCommand).resolves({
      Items: [
        { ...REQUEST, AssociationName: 'doc.web-server.1', SecretId: 'acm-passphrase/web-server/1' },
        { ...second, AssociationName: 'doc.api.2', SecretId: 'acm-passphrase/api/2' },
      ],
    });
    answer = { status: 200, body: { unmapped: true, message: 'unmapped' } };
  });
  afterAll(() => {
    cloudFormation.restore();
    dynamo.restore();
  });

  it('does nothing without --yes, and says how to see what it would do', async () => {
    expect(await runCli(['uninstall', '--region', 'eu-west-1'], io, ENV)).toBe(2);
    expect(errors[0]).toMatch(
      /^Usage error: uninstall unmaps every mapping: add --yes to do it, or --dry-run/,
    );
    expect(received).toEqual([]);
  });

  it('previews with --dry-run: every association and secret it would remove, sending nothing', async () => {
    expect(await runCli(['uninstall', '--dry-run', '--region', 'eu-west-1'], io, ENV)).toBe(0);
    expect(received).toEqual([]);
    expect(lines).toEqual([
      `would unmap web-server (${REQUEST.CertificateArn}) on env=dev: association doc.web-server.1, secret acm-passphrase/web-server/1 scheduled for deletion`,
      `would unmap api (${REQUEST.CertificateArn}) on env=prod: association doc.api.2, secret acm-passphrase/api/2 scheduled for deletion`,
      '2 mappings; nothing was changed (run again with --yes to unmap them).',
    ]);
  });

  it('unmaps every mapping through the API with --yes, as unmap does one', async () => {
    expect(await runCli(['uninstall', '--yes', '--remove-files', '--region', 'eu-west-1'], io, ENV)).toBe(0);
    expect(received.map((request) => [request.method, JSON.parse(request.body) as unknown])).toEqual([
      ['DELETE', { ...REQUEST, RemoveFiles: true }],
      ['DELETE', { ...second, RemoveFiles: true }],
    ]);
    expect(received.every((request) => request.signatureValid)).toBe(true);
    expect(lines.at(-1)).toBe('2 of 2 mappings unmapped.');
  });
});
