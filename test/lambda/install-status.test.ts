import {
  ListCommandInvocationsCommand,
  ListCommandsCommand,
  ListComplianceItemsCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { assessInstall } from '../../lambda/shared/install-status.js';
import { REGION, REQUEST } from '../helpers/fixtures.js';
import { invocation } from '../helpers/ssm-fake.js';

/*
 * ListCommandInvocations returns the first 2,500 characters of a run's output: a host that printed more
 * loses its RESULT line there. Its own compliance item for the certificate (ListComplianceItems, with the
 * documented shapes) then says how the install ended.
 */
const ssm = mockClient(SSMClient);
const SECRET_ID = 'acm-passphrase/web-server/0123456789abcdef';
const CUT = `${'reload: '.repeat(400)}`.slice(0, 2_500);
const check = {
  commandId: 'cmd-1',
  secretId: SECRET_ID,
  sentAt: new Date('2026-11-24T10:00:00Z'),
  deadline: new Date('2026-11-24T10:15:00Z'),
  now: new Date('2026-11-24T10:02:00Z'),
};
const item = (status: 'COMPLIANT' | 'NON_COMPLIANT', at: string, details: Record<string, string>) => ({
  ComplianceType: 'Custom:CertLifecycle_0123456789abcdef',
  ResourceType: 'ManagedInstance',
  ResourceId: 'i-0aaa',
  Id: 'web-server',
  Status: status,
  Severity: 'HIGH' as const,
  ExecutionSummary: { ExecutionTime: new Date(at) },
  Details: details,
});

beforeEach(() => {
  ssm.reset();
  ssm.on(ListCommandsCommand).resolves({
    Commands: [{ CommandId: 'cmd-1', Status: 'Success', StatusDetails: 'Success', TargetCount: 1 }],
  });
  ssm
    .on(ListCommandInvocationsCommand)
    .resolves({ CommandInvocations: [invocation('i-0aaa', 'Success', 'Success', CUT)] });
});

const assess = () => assessInstall(new SSMClient({ region: REGION }), REQUEST, check);

describe('an install whose output SSM cut', () => {
  it('is a success when the host recorded the certificate installed during this command', async () => {
    ssm.on(ListComplianceItemsCommand).resolves({
      ComplianceItems: [
        item('COMPLIANT', '2026-11-24T10:00:40Z', { status: 'installed', serial: '0a:1b:2c' }),
      ],
    });
    const report = await assess();
    expect(report.outcome).toBe('Success');
    expect(report.instances[0]).toMatchObject({
      instanceId: 'i-0aaa',
      status: 'Success',
      result: { cert_name: 'web-server', status: 'installed', serial: '0a:1b:2c' },
    });
    expect(ssm).toHaveReceivedCommandWith(ListComplianceItemsCommand, {
      ResourceIds: ['i-0aaa'],
      ResourceTypes: ['ManagedInstance'],
      Filters: [{ Key: 'ComplianceType', Values: ['Custom:CertLifecycle_0123456789abcdef'], Type: 'EQUAL' }],
    });
  });

  it('is not taken from a report the host made before this command', async () => {
    ssm.on(ListComplianceItemsCommand).resolves({
      ComplianceItems: [item('COMPLIANT', '2026-11-20T10:00:00Z', { status: 'installed' })],
    });
    const report = await assess();
    expect(report.outcome).toBe('Failed');
    expect(report.instances[0]!.status).toBe('Success without the install RESULT line');
  });

  it('reads nothing more when the output holds the RESULT line', async () => {
    ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [invocation('i-0aaa', 'Success')] });
    expect((await assess()).outcome).toBe('Success');
    expect(ssm).not.toHaveReceivedCommand(ListComplianceItemsCommand);
  });

  it("gives a failed host's own words when its ERROR line was cut", async () => {
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [invocation('i-0aaa', 'Failed', 'Failed', CUT)],
    });
    ssm.on(ListComplianceItemsCommand).resolves({
      ComplianceItems: [
        item('NON_COMPLIANT', '2026-11-24T10:00:40Z', {
          status: 'failed',
          error: 'systemctl reload nginx failed',
        }),
      ],
    });
    const report = await assess();
    expect(report.outcome).toBe('Failed');
    expect(report.instances[0]).toMatchObject({ status: 'Failed', error: 'systemctl reload nginx failed' });
  });
});

describe('a host under the document of two platforms', () => {
  const skipped = (platform: string, step: string) => ({
    Name: step,
    Status: 'Success' as const,
    Output: `Step execution skipped due to unsatisfied preconditions: '"StringEquals": [platformType, ${platform}]'. Step name: ${step}`,
  });

  it('is read from its own record when the Linux output was cut, the Windows step skipped beside it', async () => {
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [
        {
          ...invocation('i-0aaa', 'Success'),
          CommandPlugins: [
            { Name: 'installCertificate', Status: 'Success', Output: CUT },
            skipped('Windows', 'installCertificateWindows'),
          ],
        },
      ],
    });
    ssm.on(ListComplianceItemsCommand).resolves({
      ComplianceItems: [
        item('COMPLIANT', '2026-11-24T10:00:40Z', { status: 'installed', serial: '0a:1b:2c' }),
      ],
    });
    const report = await assess();
    expect(report.outcome).toBe('Success');
    expect(report.instances[0]).toMatchObject({ status: 'Success', result: { serial: '0a:1b:2c' } });
  });

  it('is installed when its Windows step printed the RESULT line, the Linux step skipped', async () => {
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [
        {
          ...invocation('i-0aaa', 'Success'),
          CommandPlugins: [
            skipped('Linux', 'installCertificate'),
            {
              Name: 'installCertificateWindows',
              Status: 'Success',
              Output:
                'installed: web-server (thumbprint 12B4) is in the LocalMachine\\My store and 1 bindings moved to it\nRESULT cert_name=web-server status=installed serial=0a:1b:2c not_after=2027-12-01T00:00:00Z sha256=AB:CD thumbprint=12B4 served=unchecked',
            },
          ],
        },
      ],
    });
    const report = await assess();
    expect(report.outcome).toBe('Success');
    expect(report.instances[0]).toMatchObject({
      status: 'Success',
      result: { cert_name: 'web-server', status: 'installed', serial: '0a:1b:2c', thumbprint: '12B4' },
    });
    expect(ssm).not.toHaveReceivedCommand(ListComplianceItemsCommand);
  });

  it("is skipped only when it ran neither platform's step", async () => {
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [
        {
          ...invocation('i-0aaa', 'Success'),
          CommandPlugins: [
            skipped('Linux', 'installCertificate'),
            skipped('Windows', 'installCertificateWindows'),
          ],
        },
      ],
    });
    const report = await assess();
    expect(report.outcome).toBe('Failed');
    expect(report.instances[0]!.status).toBe('Skipped: neither Linux nor Windows');
  });
});
