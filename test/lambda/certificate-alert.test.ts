import { ACMClient, DescribeCertificateCommand } from '@aws-sdk/client-acm';
import { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AcmLifecycleEvent,
  handleCertificateEvent,
} from '../../lambda/certificate-alert/certificate-alert.js';
import { asffProblems } from '../helpers/asff.js';
import { fixtureEvent } from '../helpers/events.js';
import { fakeSecurityHub } from '../helpers/security-hub-fake.js';

const NOW = new Date('2026-11-24T12:00:00.000Z');
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:alerts';

const acm = mockClient(ACMClient);
const sns = mockClient(SNSClient);
let hub: ReturnType<typeof fakeSecurityHub>;
beforeEach(() => {
  acm.reset();
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
  hub = fakeSecurityHub();
});
afterEach(() => hub.client.restore());

const handle = (event: AcmLifecycleEvent, now = NOW) =>
  handleCertificateEvent(event, {
    acm: new ACMClient({ region: 'us-east-1' }),
    securityHub: new SecurityHubClient({ region: 'us-east-1' }),
    sns: new SNSClient({ region: 'us-east-1' }),
    topicArn: TOPIC,
    securityHubRegion: 'us-east-1',
    now: () => now,
  });

function published() {
  const input = sns.commandCalls(PublishCommand)[0]!.args[0].input;
  const bodies = JSON.parse(input.Message!) as { default: string; email: string };
  return { input, email: bodies.email, json: JSON.parse(bodies.default) as Record<string, unknown> };
}

describe('an ACM Certificate Approaching Expiration event', () => {
  const event = fixtureEvent<AcmLifecycleEvent & { resources: string[] }>(
    'acm-certificate-approaching-expiration',
  );
  const arn = event.resources[0]!;

  beforeEach(() => {
    acm.on(DescribeCertificateCommand, { CertificateArn: arn }).resolves({
      Certificate: {
        CertificateArn: arn,
        DomainName: 'legacy.example.com',
        Type: 'IMPORTED',
        Status: 'ISSUED',
        NotAfter: new Date('2026-12-06T12:00:00.000Z'),
        KeyAlgorithm: 'RSA_2048',
        InUseBy: ['arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/legacy/1'],
      },
    });
  });

  it('becomes a MEDIUM expiry finding about the certificate', async () => {
    const outcome = await handle(event);
    const finding = hub.stored.get(`${arn}/cert-lifecycle/expiry`)!;
    expect(outcome).toMatchObject({ certificateArn: arn, findingId: finding.Id, notified: true });
    expect(asffProblems(finding)).toEqual([]);
    expect(finding).toMatchObject({
      GeneratorId: 'cert-lifecycle/certificate-expiry',
      AwsAccountId: '123456789012',
      Title: 'Certificate for legacy.example.com expires in 12 days',
      FindingProviderFields: { Severity: { Label: 'MEDIUM' } },
      RecordState: 'ACTIVE',
      CreatedAt: NOW.toISOString(),
    });
  });

  it('sends an email a human can act on, and the same facts as JSON, with filterable attributes', async () => {
    await handle(event);
    const { input, email, json } = published();
    expect(input.TopicArn).toBe(TOPIC);
    expect(input.Subject).toBe('Certificate expires in 12 days: legacy.example.com');
    expect(input.MessageStructure).toBe('json');
    expect(input.MessageAttributes).toEqual({
      event_type: { DataType: 'String', StringValue: 'ApproachingExpiration' },
      severity: { DataType: 'String', StringValue: 'MEDIUM' },
      days_to_expiry: { DataType: 'Number', StringValue: '12' },
    });
    expect(email).toContain(`Certificate:   ${arn}`);
    expect(email).toContain('Type:          IMPORTED');
    expect(email).toContain('Expires:       2026-12-06T12:00:00.000Z (12 days left)');
    expect(email).toContain('In use by:     arn:aws:elasticloadbalancing');
    expect(email).toMatch(/What to do: ACM does not renew imported certificates/);
    expect(email).toContain(
      'Console: https://console.aws.amazon.com/acm/home?region=us-east-1#/certificates/61f50cd4-45b9-4259-b049-d0a53682fa4b',
    );
    expect(json).toMatchObject({ eventType: 'ApproachingExpiration', severity: 'MEDIUM', daysToExpiry: 12 });
  });

  it('updates the same finding the next day, keeping when it was first raised', async () => {
    await handle(event);
    await handle(event, new Date(NOW.getTime() + 86_400_000 * 6));
    expect(hub.stored.size).toBe(1);
    const finding = hub.stored.get(`${arn}/cert-lifecycle/expiry`)!;
    expect(finding.CreatedAt).toBe(NOW.toISOString());
    expect(finding.FindingProviderFields?.Severity?.Label).toBe('HIGH');
  });

  it('still emails when Security Hub is not enabled, and says why no finding was made', async () => {
    hub.client.restore();
    hub = fakeSecurityHub({ enabled: false });
    const outcome = await handle(event);
    expect(outcome.findingSkippedBecause).toMatch(/Security Hub is not enabled here/);
    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 1);
  });

  it('uses the event itself when the certificate was deleted since', async () => {
    acm
      .on(DescribeCertificateCommand)
      .rejects(Object.assign(new Error('gone'), { name: 'ResourceNotFoundException' }));
    await handle(event);
    const finding = hub.stored.get(`${arn}/cert-lifecycle/expiry`)!;
    expect(finding.Title).toBe('Certificate for legacy.example.com expires in 12 days');
  });
});

describe('an ACM Certificate Renewal Action Required event', () => {
  const event = fixtureEvent<AcmLifecycleEvent & { resources: string[] }>(
    'acm-certificate-renewal-action-required',
  );
  const arn = event.resources[0]!;

  it('becomes a renewal finding with the reason and what to do about it', async () => {
    acm.on(DescribeCertificateCommand).resolves({
      Certificate: {
        CertificateArn: arn,
        DomainName: 'portal.example.com',
        Type: 'AMAZON_ISSUED',
        Status: 'ISSUED',
        NotAfter: new Date('2026-11-23T23:59:59Z'),
        RenewalSummary: {
          RenewalStatus: 'PENDING_VALIDATION',
          RenewalStatusReason: 'CAA_ERROR',
          DomainValidationOptions: [],
          UpdatedAt: NOW,
        },
      },
    });
    await handle(event, new Date('2026-10-24T00:00:00Z'));
    const finding = hub.stored.get(`${arn}/cert-lifecycle/renewal-action-required`)!;
    expect(asffProblems(finding)).toEqual([]);
    expect(finding.Title).toBe('Renewal of the certificate for portal.example.com needs action (CAA_ERROR)');
    expect(finding.FindingProviderFields?.Severity?.Label).toBe('MEDIUM');
    const { input, email } = published();
    expect(input.Subject).toBe('Certificate renewal needs action: portal.example.com');
    expect(email).toContain('Renewal:       PENDING_VALIDATION (CAA_ERROR)');
    expect(email).toMatch(/What to do: A CAA record on the domain/);
    expect(input.MessageAttributes?.event_type?.StringValue).toBe('RenewalActionRequired');
  });
});

describe('an ACM Certificate Expired event', () => {
  const event = fixtureEvent<AcmLifecycleEvent & { resources: string[] }>('acm-certificate-expired');
  const arn = event.resources[0]!;

  it('becomes a CRITICAL finding and an alert, from the event fields when describe has no date', async () => {
    acm.on(DescribeCertificateCommand).resolves({ Certificate: { CertificateArn: arn, Status: 'EXPIRED' } });
    await handle(event, new Date('2026-11-23T00:00:01Z'));
    const finding = hub.stored.get(`${arn}/cert-lifecycle/expiry`)!;
    expect(finding.Title).toBe('Certificate for shop.example.com has expired');
    expect(finding.FindingProviderFields?.Severity?.Label).toBe('CRITICAL');
    expect(published().input.Subject).toBe('Certificate expired: shop.example.com');
    expect(published().input.MessageAttributes?.severity?.StringValue).toBe('CRITICAL');
  });
});

describe('an ACM Certificate Available event', () => {
  it('archives the certificate findings, and sends no alert', async () => {
    const expiring = fixtureEvent<AcmLifecycleEvent & { resources: string[] }>(
      'acm-certificate-renewal-action-required',
    );
    const arn = expiring.resources[0]!;
    acm
      .on(DescribeCertificateCommand)
      .resolves({ Certificate: { CertificateArn: arn, NotAfter: new Date('2026-11-23T23:59:59Z') } });
    await handle(expiring);
    await handle({ ...expiring, 'detail-type': 'ACM Certificate Approaching Expiration' });
    sns.reset();

    const renewal = fixtureEvent<AcmLifecycleEvent>('acm-certificate-available-renewal-public');
    const outcome = await handle({ ...renewal, resources: [arn] }, new Date(NOW.getTime() + 1000));
    expect(outcome.archived).toBe(2);
    expect([...hub.stored.values()].map((finding) => finding.RecordState)).toEqual(['ARCHIVED', 'ARCHIVED']);
    expect(sns).not.toHaveReceivedAnyCommand();
  });
});

it('refuses an event that names no certificate', async () => {
  await expect(handle({ 'detail-type': 'ACM Certificate Expired', resources: [] })).rejects.toThrow(
    /names no ACM certificate/,
  );
});

describe("a member account's certificate event, forwarded by the member stack", () => {
  const fixture = fixtureEvent<AcmLifecycleEvent & { resources: string[] }>(
    'acm-certificate-approaching-expiration',
  );
  const MEMBER = '444455556666';
  const arn = fixture.resources[0]!.replace(':123456789012:', `:${MEMBER}:`);
  const event = { ...fixture, account: MEMBER, resources: [arn] };
  const memberAcm = new ACMClient({ region: 'us-east-1' });

  it("is described in the member account and reported by this one, the finding's resource the member's certificate", async () => {
    acm.on(DescribeCertificateCommand, { CertificateArn: arn }).resolves({
      Certificate: {
        CertificateArn: arn,
        DomainName: 'member.example.com',
        Type: 'AMAZON_ISSUED',
        Status: 'ISSUED',
        NotAfter: new Date('2026-12-06T12:00:00.000Z'),
      },
    });
    const asked: unknown[] = [];
    await handleCertificateEvent(event, {
      acm: new ACMClient({ region: 'us-east-1' }),
      acmAt: (location) => {
        asked.push(location);
        return memberAcm;
      },
      homeAccount: '123456789012',
      securityHub: new SecurityHubClient({ region: 'us-east-1' }),
      sns: new SNSClient({ region: 'us-east-1' }),
      topicArn: TOPIC,
      securityHubRegion: 'us-east-1',
      now: () => NOW,
    });

    expect(asked).toEqual([{ TargetAccount: MEMBER, TargetRegion: 'us-east-1' }]);
    expect(acm.commandCalls(DescribeCertificateCommand)[0]!.thisValue).toBe(memberAcm);
    const finding = hub.stored.get(`${arn}/cert-lifecycle/expiry`)!;
    expect(asffProblems(finding)).toEqual([]);
    // Security Hub takes a finding only from the account it names: this one, about the member's certificate.
    expect(finding).toMatchObject({
      AwsAccountId: '123456789012',
      ProductArn: 'arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default',
      ProductFields: expect.objectContaining({ 'cert-lifecycle/CertificateAccount': MEMBER }),
      Resources: [expect.objectContaining({ Id: arn })],
    });
    expect(published().email).toContain(arn);
  });
});
