/**
 * Following one install command on 10, 100 and 1,000 hosts behind one tag, with 1% of them failing:
 * how many SSM calls each check makes while the command runs and at its end, and how large the
 * workflow state (the execution's report) and the inventory item (the mapping) grow. SSM is simulated
 * with the documented shapes: ListCommands' counts, ListCommandInvocations pages of at most 50 with
 * each plugin's output (up to 2,500 characters: the install's lines, its RESULT line, its ERROR line).
 */
import {
  type CommandInvocation,
  ListCommandInvocationsCommand,
  ListCommandsCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { assessInstall } from '../../lambda/shared/install-status.js';
import { CERTIFICATE_ARN, REQUEST } from '../helpers/fixtures.js';

/** Checks while the command runs: the 5-minute sweep over a half-hour rollout. */
const RUNNING_CHECKS = 6;
/** The most SSM returns per ListCommandInvocations page. */
const PAGE = 50;
/** Step Functions' limit on a state's input or output, and DynamoDB's on an item. */
const STATE_LIMIT = 262_144;
const ITEM_LIMIT = 409_600;

function hostOutput(index: number, failed: boolean): string {
  const lines = [
    `installed /etc/ssl/certs/web-server-cert.pem web-server-chain.pem web-server-fullchain.pem, /etc/ssl/private/web-server-privkey.pem`,
    'RESULT cert_name=web-server status=installed serial=0a:1b:2c:3d:4e:5f:60:71:82:93:a4:b5:c6:d7:e8:f9 not_after=2027-12-24T23:59:59Z sha256=AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89 formats=pem served=0a:1b:2c:3d:4e:5f:60:71:82:93:a4:b5:c6:d7:e8:f9',
  ];
  if (failed) {
    lines.splice(1, 1);
    lines.push(
      '----------ERROR-------',
      `ERROR: the service does not serve the new certificate (serial 0a:1b:2c:3d) after 10 s: 127.0.0.1:8443 serves serial 7f:00:${index.toString(16)}; the previous files are restored and the service reloaded`,
    );
  }
  return lines.join('\n');
}

export async function benchFleetInstall(): Promise<void> {
  console.log(
    `\nFollowing one install on a fleet behind one tag (1% failing; checks every 5 minutes while it runs)`,
  );
  console.log(
    `  ${'hosts'.padStart(5)}  ${'calls per running check'.padStart(23)}  ${'calls at the end'.padStart(16)}  ${'calls in all'.padStart(12)}  ${'largest state'.padStart(13)}  ${'mapping item'.padStart(12)}`,
  );
  for (const hosts of [10, 100, 1_000]) {
    const failing = Math.max(1, Math.round(hosts / 100));
    const invocations: CommandInvocation[] = Array.from({ length: hosts }, (_, index) => {
      const failed =
        index % Math.floor(hosts / failing) === 0 && index / Math.floor(hosts / failing) < failing;
      return {
        CommandId: 'cmd-1',
        InstanceId: `i-${index.toString(16).padStart(17, '0')}`,
        Status: failed ? 'Failed' : 'Success',
        StatusDetails: failed ? 'Failed' : 'Success',
        CommandPlugins: [
          {
            Name: 'installCertificate',
            Status: failed ? 'Failed' : 'Success',
            Output: hostOutput(index, failed),
          },
        ],
      };
    });
    const ssm = mockClient(SSMClient);
    const calls = { ListCommands: 0, ListCommandInvocations: 0 };
    let running = true;
    ssm.on(ListCommandsCommand).callsFake(() => {
      calls.ListCommands += 1;
      return {
        Commands: [
          running
            ? {
                CommandId: 'cmd-1',
                Status: 'InProgress',
                TargetCount: hosts,
                CompletedCount: Math.floor(hosts / 2),
              }
            : {
                CommandId: 'cmd-1',
                Status: 'Failed',
                StatusDetails: 'Failed',
                TargetCount: hosts,
                CompletedCount: hosts,
                ErrorCount: failing,
              },
        ],
      };
    });
    ssm.on(ListCommandInvocationsCommand).callsFake((input: { NextToken?: string }) => {
      calls.ListCommandInvocations += 1;
      const start = Number(input.NextToken ?? 0);
      return {
        CommandInvocations: invocations.slice(start, start + PAGE),
        ...(start + PAGE < hosts ? { NextToken: String(start + PAGE) } : {}),
      };
    });
    const client = new SSMClient({ region: 'eu-west-1' });
    const check = (now: Date) =>
      assessInstall(client, REQUEST, {
        commandId: 'cmd-1',
        sentAt: new Date(0),
        deadline: new Date(8.64e15),
        now,
      });
    let largestState = 0;
    for (let index = 0; index < RUNNING_CHECKS; index += 1) {
      largestState = Math.max(largestState, JSON.stringify(await check(new Date())).length);
    }
    const perRunningCheck = (calls.ListCommands + calls.ListCommandInvocations) / RUNNING_CHECKS;
    running = false;
    const before = calls.ListCommands + calls.ListCommandInvocations;
    const report = await check(new Date());
    const atTheEnd = calls.ListCommands + calls.ListCommandInvocations - before;
    const state = JSON.stringify({
      ...report,
      commandId: 'cmd-1',
      associationId: 'a'.repeat(36),
      associationChange: 'unchanged',
    });
    largestState = Math.max(largestState, state.length);
    const item = JSON.stringify({
      TagKeyValue: 'env=dev',
      'CertificateArn#CertName': `${CERTIFICATE_ARN}#web-server`,
      ...REQUEST,
      LastInstallStatus: report.outcome,
      LastInstallSummary: report.reason,
      LastCommandId: 'cmd-1',
      LastExecutionArn: 'arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:'.padEnd(120, 'x'),
      AssociationId: 'a'.repeat(36),
      AssociationName: 'Install-ACMCertificate.web-server.0123456789abcdef',
      SecretId: 'acm-passphrase/web-server/0123456789abcdef',
      Serial: '0a:1b:2c:3d:4e:5f:60:71:82:93:a4:b5:c6:d7:e8:f9',
      Profile: 'default',
    });
    ssm.restore();
    const kb = (bytes: number, limit: number) =>
      `${(bytes / 1024).toFixed(1)} KiB (${((100 * bytes) / limit).toFixed(1)}%)`;
    console.log(
      `  ${hosts.toLocaleString('en').padStart(5)}  ${perRunningCheck.toFixed(0).padStart(23)}  ${String(atTheEnd).padStart(16)}  ${String(calls.ListCommands + calls.ListCommandInvocations).padStart(12)}  ${kb(largestState, STATE_LIMIT).padStart(13)}  ${kb(item.length, ITEM_LIMIT).padStart(12)}`,
    );
  }
  console.log(
    '  (state: the execution report, at most 50 hosts, failed ones first; the mapping keeps a summary naming 10)',
  );
}
