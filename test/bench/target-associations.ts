import { ListCommandsCommand, SSMClient, SendCommandCommand } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { performance } from 'node:perf_hooks';
import {
  type RecordAndInstallInput,
  recordAndInstall,
} from '../../lambda/record-and-install/record-and-install.js';
import { syncAllTargets } from '../../lambda/sync-associations/sync-associations.js';
import { AssociationStore } from '../helpers/association-store.js';
import { makeCertificate } from '../helpers/certificates.js';
import { startLocalDynamo } from '../helpers/dynalite.js';
import { REGION, REQUEST, TARGET_ASSOCIATIONS, recordAndInstallDependencies } from '../helpers/fixtures.js';
import { FakeHost, bundleFor } from '../helpers/install-script.js';

/**
 * Associations by target: how many associations, and how many SSM association calls, the exports of
 * 50 certificates to one target and of one certificate to each of 2,000 targets make (State Manager
 * allows 20 associations per node and 2,000 per account), what the deploy-time sync then costs, and
 * a host with 20 certificates: its output beside the 2,500 characters SSM returns, its time.
 */

const input = (n: number, tagValue: string): RecordAndInstallInput => {
  const CertName = `site${n}.example.com`;
  const CertificateArn = REQUEST.CertificateArn.replace(/[0-9a-f]{12}$/, n.toString(16).padStart(12, '0'));
  return {
    ...REQUEST,
    TargetTagValue: tagValue,
    CertificateArn,
    CertName,
    export: {
      certificateArn: CertificateArn,
      certName: CertName,
      serial: '0a',
      notAfter: '2027-12-24T23:59:59.000Z',
      secretId: `acm-passphrase/${CertName}/${n.toString(16).padStart(16, '0')}`,
      secretVersionId: 'v1',
      exportedAt: '2026-11-24T10:00:00.000Z',
      profile: 'default',
    },
    executionArn: `arn:aws:states:eu-west-1:111122223333:execution:ExportInstall:req-${n}`,
    taskToken: `token-${n}`,
  };
};

const ASSOCIATION_CALLS = /Association/;

export async function benchTargetAssociations(): Promise<void> {
  const dynamo = await startLocalDynamo();
  const ssm = mockClient(SSMClient);
  try {
    console.log('\nAssociations by target (State Manager: 20 per node, 2,000 per account and Region)');
    for (const [label, count, tagOf] of [
      ['50 certificates on one target', 50, () => 'edge'],
      ['2,000 targets, one certificate each', 2_000, (n: number) => `host-${n}`],
    ] as const) {
      ssm.reset();
      const store = new AssociationStore().serve(ssm);
      ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
      ssm.on(ListCommandsCommand).resolves({ Commands: [{ CommandId: 'cmd-1', Status: 'InProgress' }] });
      const tableName = await dynamo.createInventoryTable();
      const waitsTable = await dynamo.createWaitsTable();
      const client = new SSMClient({ region: REGION });
      const started = performance.now();
      for (let n = 1; n <= count; n++) {
        await recordAndInstall(
          input(n, tagOf(n)),
          recordAndInstallDependencies(dynamo.db, { tableName, waitsTable }, { ssm: client }),
        );
      }
      const exportCalls = ssm.calls().filter((call) => ASSOCIATION_CALLS.test(call.args[0].constructor.name));
      ssm.resetHistory();
      await syncAllTargets({
        stateManager: client,
        db: dynamo.db,
        tableName,
        settings: TARGET_ASSOCIATIONS,
      });
      const syncCalls = ssm.calls().length;
      const largest = Math.max(
        ...[...store.associations.values()].map((a) => store.certificatesOf(a).length),
      );
      console.log(
        `  ${label.padEnd(38)} ${String(store.associations.size).padStart(5)} associations (largest lists ${largest}), ` +
          `${(exportCalls.length / count).toFixed(1)} association calls per export, ` +
          `deploy-time sync with nothing to change: ${syncCalls} calls; ${((performance.now() - started) / 1000).toFixed(1)} s locally`,
      );
    }

    const host = new FakeHost();
    const ids = Array.from({ length: 20 }, (_, n) => {
      const id = input(n + 1, 'edge').export.secretId;
      host.serveSecretFor(id, bundleFor(makeCertificate('ec')));
      return id;
    });
    const node = { AWS_SSM_INSTANCE_ID: 'i-0123456789abcdef0', AWS_SSM_REGION_NAME: REGION };
    for (const pass of ['first install', 'unchanged repeat']) {
      const started = performance.now();
      const run = host.run({ Certificates: ids.join(' ') }, node);
      console.log(
        `  a host with 20 certificates, ${pass.padEnd(17)} ${((performance.now() - started) / 1000).toFixed(1)} s, ` +
          `output ${run.stdout.length} characters (ListCommandInvocations returns 2,500), ` +
          `${host.complianceReports().length} compliance reports so far, exit ${run.status}`,
      );
    }
  } finally {
    ssm.restore();
    await dynamo.stop();
  }
}
