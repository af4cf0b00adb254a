import type { CreateAssociationCommandInput } from '@aws-sdk/client-ssm';
import { readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestCertificate, makeCertificate } from '../helpers/certificates.js';
import { REQUEST } from '../helpers/fixtures.js';
import { FakeHost, secretIdsOf } from '../helpers/install-script.js';
import { invocation } from '../helpers/ssm-fake.js';
import { FakeStateManager, type ManagedNode } from '../helpers/state-manager.js';
import { type WorkflowHarness, type WorkflowRun, startWorkflowHarness } from '../helpers/workflow-harness.js';

/**
 * Every host that carries the tag, now or later, ends up with the current certificate without anyone
 * calling the API again: the export workflow (the real ASL and handlers) creates the mapping's
 * association; a State Manager (test/helpers/state-manager.ts) then applies it the way AWS documents,
 * running the real install script on each node.
 */
let harness: WorkflowHarness;
let first: TestCertificate;
let renewed: TestCertificate;
beforeAll(async () => {
  harness = await startWorkflowHarness();
  first = makeCertificate('rsa');
  renewed = makeCertificate('rsa');
});
afterAll(async () => harness.stop());

const node = (id: string, tags: Record<string, string>, online = true): ManagedNode => ({
  id,
  host: new FakeHost(),
  tags,
  online,
});
const installedPem = (target: ManagedNode) =>
  readFileSync(path.join(target.host.certDirectory, 'web-server-cert.pem'), 'utf8').trim();
const onlyAssociation = (): CreateAssociationCommandInput => {
  const all = [...harness.associations.values()];
  expect(all).toHaveLength(1);
  return all[0]!;
};
const secretsOf = (run: WorkflowRun) => (secretId: string) => run.secrets.get(secretId)?.value;

describe('convergence through the mapping association', () => {
  it('a host that gains the tag after the export gets the current certificate', async () => {
    const web1 = node('i-web1', { env: 'dev' });
    const web2 = node('i-web2', { env: 'staging' });
    const exported = await harness.run(REQUEST, { certificate: first, hosts: [web1.host] });
    expect(exported.status).toBe('SUCCEEDED');

    const stateManager = new FakeStateManager([web1, web2], secretsOf(exported));
    const association = onlyAssociation();
    stateManager.applied(association);
    web2.tags = { env: 'dev' };
    const runs = stateManager.targetsChanged(association);

    expect(runs.map((run) => [run.nodeId, run.status])).toEqual([['i-web2', 'Success']]);
    expect(installedPem(web2)).toBe(first.certificatePem.trim());
  });

  it('a host of a member account that gains the tag after the export gets the certificate, read from the central account by ARN', async () => {
    const SECRETS_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:';
    const member = { TargetAccount: '444455556666', TargetRegion: 'eu-central-1' };
    const memberNode = (id: string, tags: Record<string, string>): ManagedNode => ({
      id,
      host: new FakeHost({ secretsArn: SECRETS_ARN }),
      tags,
      online: true,
    });
    const web1 = memberNode('i-member1', { env: 'dev' });
    const web2 = memberNode('i-member2', { env: 'staging' });
    const exported = await harness.run({ ...REQUEST, ...member }, { certificate: first, hosts: [web1.host] });
    expect(exported.status).toBe('SUCCEEDED');
    // The install command and the association went through the member Region's client.
    expect(exported.commandRegions).toEqual(['eu-central-1']);
    expect(new Set(exported.associationRegions)).toEqual(new Set(['eu-central-1']));

    const stateManager = new FakeStateManager([web1, web2], secretsOf(exported));
    const association = onlyAssociation();
    stateManager.applied(association);
    web2.tags = { env: 'dev' };
    const runs = stateManager.targetsChanged(association);

    expect(runs.map((run) => [run.nodeId, run.status])).toEqual([['i-member2', 'Success']]);
    expect(installedPem(web2)).toBe(first.certificatePem.trim());
  });

  it('a host that was off during a renewal gets the renewed certificate at the next scheduled run', async () => {
    const tableName = await harness.dynamo.createInventoryTable();
    const web1 = node('i-web1', { env: 'dev' });
    const web2 = node('i-web2', { env: 'dev' });
    await harness.run(REQUEST, { certificate: first, hosts: [web1.host, web2.host], tableName });
    expect(installedPem(web2)).toBe(first.certificatePem.trim());

    web2.online = false;
    const renewal = await harness.run(REQUEST, { certificate: renewed, hosts: [web1.host], tableName });
    expect(renewal.status).toBe('SUCCEEDED');
    expect(installedPem(web1)).toBe(renewed.certificatePem.trim());
    expect(installedPem(web2)).toBe(first.certificatePem.trim());

    const stateManager = new FakeStateManager([web1, web2], secretsOf(renewal));
    web2.online = true;
    const runs = stateManager.scheduleFired(onlyAssociation());

    expect(installedPem(web2)).toBe(renewed.certificatePem.trim());
    const results = Object.fromEntries(
      runs.map((run) => [run.nodeId, run.run.stdout.trim().split('\n').at(-1)]),
    );
    expect(results['i-web1']).toMatch(/status=unchanged/);
    expect(results['i-web2']).toMatch(/status=installed/);
  });

  it('a host whose files were deleted gets them back at the next scheduled run', async () => {
    const web1 = node('i-web1', { env: 'dev' });
    const exported = await harness.run(REQUEST, { certificate: first, hosts: [web1.host] });
    for (const file of ['web-server-cert.pem', 'web-server-fullchain.pem']) {
      rmSync(path.join(web1.host.certDirectory, file));
    }
    rmSync(path.join(web1.host.keyDirectory, 'web-server-privkey.pem'));

    const [run] = new FakeStateManager([web1], secretsOf(exported)).scheduleFired(onlyAssociation());

    expect(run!.status).toBe('Success');
    expect(installedPem(web1)).toBe(first.certificatePem.trim());
    expect(readFileSync(path.join(web1.host.keyDirectory, 'web-server-privkey.pem'), 'utf8')).toMatch(
      /^-----BEGIN PRIVATE KEY-----/,
    );
  });

  it('a renewal keeps the one association in step: no second one, nothing about it changed', async () => {
    const tableName = await harness.dynamo.createInventoryTable();
    const hosts = [new FakeHost()];
    await harness.run(REQUEST, { certificate: first, hosts, tableName });
    const renewal = await harness.run(REQUEST, { certificate: renewed, hosts, tableName });
    expect(renewal.createdAssociations).toEqual([]);
    expect(renewal.output).toMatchObject({ associationId: 'assoc-0001' });
    expect(harness.associations.size).toBe(1);
  });

  it('a host with 21 certificates on one tag (one more than State Manager lets target a node) converges through one association', async () => {
    const tableName = await harness.dynamo.createInventoryTable();
    const sites = Array.from({ length: 21 }, (_, n) => ({
      certificate: makeCertificate(n % 2 ? 'ec' : 'rsa'),
      request: {
        ...REQUEST,
        CertificateArn: REQUEST.CertificateArn.replace(/[0-9a-f]{12}$/, n.toString(16).padStart(12, '0')),
        CertName: `site${n}.example.com`,
      },
    }));
    let last: WorkflowRun | undefined;
    for (const site of sites) {
      last = await harness.run(site.request, {
        certificate: site.certificate,
        invocations: [invocation('i-0aaa', 'Success')],
        tableName,
      });
      expect(last.status).toBe('SUCCEEDED');
    }
    const association = onlyAssociation();
    expect(secretIdsOf(association.Parameters ?? {})).toHaveLength(21);

    // A node that joins the tag afterwards: one association selects it, where State Manager allows 20.
    const edge = node('i-edge', { env: 'dev' });
    const stateManager = new FakeStateManager([edge], secretsOf(last!));
    const [run] = stateManager.applied(association);
    expect(run!.status).toBe('Success');
    for (const site of sites) {
      const installed = readFileSync(
        path.join(edge.host.certDirectory, `${site.request.CertName}-cert.pem`),
        'utf8',
      );
      expect(installed.trim()).toBe(site.certificate.certificatePem.trim());
    }
    expect(run!.run.stdout.trim().split('\n').at(-1)).toBe('RESULTS certificates=21 failed=0');
  }, 120_000);
});
