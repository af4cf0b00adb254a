import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { EXIT, UsageError, parseCommandLine } from '../../../lib/cli/arguments.js';
import { runCli } from '../../../lib/cli/cli.js';
import { explain } from '../../../lib/cli/explain.js';
import { REQUEST, stackWithOutputs } from '../../helpers/fixtures.js';

/*
 * What the CLI refuses, and how it says what went wrong: parsed per command, a flag that does not apply
 * is a usage error (exit 2) naming it, and an AWS error is a sentence with the fix.
 */

const ARN = REQUEST.CertificateArn;
const EXECUTION = 'arn:aws:states:ap-southeast-2:111122223333:execution:ExportInstall:req-1';

let lines: string[];
let errors: string[];
let clock: number;
const io = {
  out: (line: string) => lines.push(line),
  err: (line: string) => errors.push(line),
  sleep: async (ms: number) => {
    clock += ms;
  },
  now: () => clock,
};
beforeEach(() => {
  lines = [];
  errors = [];
  clock = Date.parse('2026-12-01T12:00:00Z');
});

describe('cli usage errors: exit 2, naming what is wrong, nothing sent', () => {
  it.each([
    [
      ['unmap', '--cert-arn', ARN, '--name', 'web', '--tag', 'env=dev', '--dry-run'],
      'unmap does not take --dry-run',
    ],
    [
      ['export', '--cert-arn', ARN, '--name', 'web', '--tag', 'env=dev', '--remove-files'],
      'export does not take --remove-files: files are removed by unmap --remove-files',
    ],
    [
      ['export', '--cert-arn', ARN, '--name', 'web', '--tag', 'env=dev', 'extra'],
      'export takes no arguments, not "extra"',
    ],
    [
      ['export', '--cert-arn', ARN, '--name', 'web', '--tag', 'env=dev', '--colour'],
      'there is no option --colour (export takes --cert-arn,',
    ],
    [['export', '--cert-arn', ARN, '--name'], '--name needs a value'],
    [['export', '--name', 'web', '--tag', 'env=dev'], 'export needs --cert-arn'],
    [
      ['export', '--cert-arn', ARN, '--name', 'web', '--tag', 'env=dev', '--timeout', '30'],
      '--timeout goes with --follow',
    ],
    [
      ['export', '--cert-arn', ARN, '--name', 'web', '--tag', 'env=dev', '--follow', '--timeout', 'soon'],
      '--timeout is a number of seconds, not "soon"',
    ],
    [['mappings', '--output', 'yaml'], '--output is text or json, not "yaml"'],
    [['status'], 'status needs EXECUTION_ARN'],
    [['status', EXECUTION, EXECUTION], 'status takes EXECUTION_ARN, not'],
    [['deploy'], 'there is no command "deploy"'],
    [['--stack', 'x', 'mappings'], 'the command comes first, before --stack'],
    [['help', 'deploy'], 'there is no command "deploy"'],
    [[], 'no command given'],
  ])('%j', async (argv, message) => {
    expect(await runCli(argv, io, {})).toBe(EXIT.usage);
    expect(errors[0]).toContain(`Usage error: ${message}`);
    expect(errors[0]).toMatch(/\n\nUsage: npx cert-lifecycle/);
    expect(lines).toEqual([]);
  });

  it('parses what each command takes, and only that', () => {
    expect(parseCommandLine(['status', EXECUTION, '--follow', '--timeout', '60'], '1.0.0')).toEqual({
      kind: 'run',
      command: 'status',
      flags: { follow: true, timeout: '60' },
      args: [EXECUTION],
    });
    expect(() => parseCommandLine(['mappings', '--name', 'web'], '1.0.0')).toThrow(UsageError);
  });

  it('lists the exit codes in every help text', async () => {
    for (const argv of [['--help'], ['help', 'unmap'], ['executions', '--help']]) {
      lines = [];
      await runCli(argv, io, {});
      expect(lines.join('\n')).toContain(
        'Exit codes: 0 done, 1 failed (or a dry run found it not ready), 2 bad usage (nothing sent), 3 still running at --timeout, 75 throttled',
      );
    }
  });
});

describe('cli errors from AWS, as sentences with the fix', () => {
  const asked = {
    doing: 'reading the outputs of stack CertLifecycle',
    region: 'eu-west-1',
    stack: 'CertLifecycle',
  };
  const sdkError = (name: string, message: string) => Object.assign(new Error(message), { name });

  it.each([
    [
      sdkError('CredentialsProviderError', 'Could not load credentials from any providers'),
      /^no AWS credentials while reading the outputs of stack CertLifecycle: set AWS_PROFILE/,
    ],
    [
      new Error('Region is missing'),
      /^no Region while reading the outputs of stack CertLifecycle: pass --region REGION, or set AWS_REGION$/,
    ],
    [
      sdkError('ValidationError', 'Stack with id CertLifecycle does not exist'),
      /^stack CertLifecycle does not exist in eu-west-1: pass --stack with the name you deployed/,
    ],
    [
      sdkError('ExpiredTokenException', 'The security token included in the request is expired'),
      /^your AWS credentials have expired/,
    ],
    [
      sdkError('AccessDeniedException', 'User: arn:… is not authorized'),
      /^AWS refused reading the outputs of stack CertLifecycle \(AccessDeniedException\): User: arn:… is not authorized; the operator policy in the README/,
    ],
    [
      sdkError('ThrottlingException', 'Rate exceeded'),
      /^reading the outputs of stack CertLifecycle failed: ThrottlingException: Rate exceeded$/,
    ],
  ])('%s', (error, sentence) => {
    expect(explain(error, asked).message).toMatch(sentence);
  });

  it('names the table that is missing, and the stack whose output named it', () => {
    expect(
      explain(sdkError('ResourceNotFoundException', 'Requested resource not found'), {
        ...asked,
        doing: 'reading table CertTagMapping',
        table: 'CertTagMapping',
      }).message,
    ).toBe(
      "table CertTagMapping (stack CertLifecycle's output) does not exist in eu-west-1; was the stack deleted or deployed elsewhere?",
    );
  });

  it('says which stack it looked for, and where, when it is not there (exit 1)', async () => {
    const cloudFormation = mockClient(CloudFormationClient);
    cloudFormation
      .on(DescribeStacksCommand)
      .rejects(sdkError('ValidationError', 'Stack with id Certs does not exist'));
    expect(await runCli(['mappings', '--stack', 'Certs', '--region', 'eu-central-1'], io, {})).toBe(
      EXIT.failed,
    );
    expect(errors).toEqual([
      'Error: stack Certs does not exist in eu-central-1: pass --stack with the name you deployed (cdk deploy -c stackName=…) and --region with its Region',
    ]);
    cloudFormation.restore();
  });

  it('echoes a URL that is not one', async () => {
    const argv = ['export', '--cert-arn', ARN, '--name', 'web', '--tag', 'env=dev', '--api-url', 'not a url'];
    expect(await runCli(argv, io, {})).toBe(EXIT.usage);
    expect(errors[0]).toContain('Usage error: --api-url "not a url" is not a URL');
  });
});

describe('cli status, executions and mappings', () => {
  const sfn = mockClient(SFNClient);
  const cloudFormation = mockClient(CloudFormationClient);
  const dynamo = mockClient(DynamoDBDocumentClient);
  beforeEach(() => {
    for (const mock of [sfn, cloudFormation, dynamo]) mock.reset();
    cloudFormation.on(DescribeStacksCommand).resolves(
      stackWithOutputs({
        StateMachineArn: 'arn:aws:states:eu-west-1:111122223333:stateMachine:ExportInstall',
        InventoryTableName: 'CertTagMapping',
        HostStatesTableName: 'HostStates',
      }),
    );
  });

  it("takes a running execution's Region from its ARN and says where it is and for how long", async () => {
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: EXECUTION,
      status: 'RUNNING',
      startDate: new Date(clock - 95_000),
    } as never);
    sfn.on(GetExecutionHistoryCommand).resolves({
      events: [
        {
          id: 5,
          type: 'TaskStateEntered',
          timestamp: new Date(),
          stateEnteredEventDetails: { name: 'RecordAndInstall' },
        },
      ],
    });
    expect(await runCli(['status', EXECUTION], io, {})).toBe(EXIT.done);
    expect(lines).toEqual(['RUNNING for 95 s, now in RecordAndInstall']);
    expect(await sfn.call(0).thisValue.config.region()).toBe('ap-southeast-2');
    lines = [];
    expect(await runCli(['status', EXECUTION, '--output', 'json'], io, {})).toBe(EXIT.done);
    expect(JSON.parse(lines.join('\n'))).toEqual({
      executionArn: EXECUTION,
      status: 'RUNNING',
      runningSeconds: 95,
      state: 'RecordAndInstall',
    });
  });

  it('gives up following at --timeout with exit 3, saying the execution goes on', async () => {
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    sfn
      .on(DescribeExecutionCommand)
      .resolves({ executionArn: EXECUTION, status: 'RUNNING', startDate: new Date(clock) } as never);
    expect(await runCli(['status', EXECUTION, '--follow', '--timeout', '10'], io, {})).toBe(
      EXIT.stillRunning,
    );
    expect(errors).toEqual([`Still running after 10 s (it goes on): ${EXECUTION}`]);
  });

  it('lists recent executions, renewals told from exports, at most --max', async () => {
    sfn.on(ListExecutionsCommand).resolves({
      executions: [
        {
          executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:renew-0123abcd-ff',
          stateMachineArn: 'arn:sm',
          name: 'renew-0123abcd-ff',
          status: 'SUCCEEDED',
          startDate: new Date('2026-12-01T10:00:00Z'),
          stopDate: new Date('2026-12-01T10:02:00Z'),
        },
        {
          executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:req-9',
          stateMachineArn: 'arn:sm',
          name: 'req-9',
          status: 'FAILED',
          startDate: new Date('2026-12-01T09:00:00Z'),
        },
      ],
    });
    expect(
      await runCli(['executions', '--max', '1', '--status', 'succeeded', '--region', 'eu-west-1'], io, {}),
    ).toBe(0);
    expect(sfn.commandCalls(ListExecutionsCommand)[0]!.args[0].input).toMatchObject({
      stateMachineArn: 'arn:aws:states:eu-west-1:111122223333:stateMachine:ExportInstall',
      statusFilter: 'SUCCEEDED',
    });
    expect(lines).toEqual([
      'SUCCEEDED  2026-12-01T10:00:00.000Z  renewal  arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:renew-0123abcd-ff',
    ]);
  });

  it("prints the mappings as one JSON document, with each one's hosts", async () => {
    dynamo.on(ScanCommand).resolves({
      Items: [
        {
          TagKeyValue: 'env=dev',
          CertificateArn: ARN,
          CertName: 'web-server',
          LastInstallStatus: 'Failed',
          LastInstallSummary: '1 of 1 instances failed: i-0a Failed (cannot decrypt the private key)',
        },
      ],
    });
    expect(await runCli(['mappings', '--output', 'json', '--region', 'eu-west-1'], io, {})).toBe(0);
    expect(JSON.parse(lines.join('\n'))).toEqual({
      mappings: [
        {
          TagKeyValue: 'env=dev',
          CertificateArn: ARN,
          CertName: 'web-server',
          LastInstallStatus: 'Failed',
          LastInstallSummary: '1 of 1 instances failed: i-0a Failed (cannot decrypt the private key)',
          hosts: [],
        },
      ],
    });
    lines = [];
    await runCli(['mappings', '--region', 'eu-west-1'], io, {});
    expect(lines[0]).toContain('profile default');
    expect(lines[0]).toContain('why: 1 of 1 instances failed: i-0a Failed (cannot decrypt the private key)');
  });
});
