/**
 * The expiry scan and the alert handler against moto_server: certificates imported into its ACM,
 * findings imported into and read back from its Security Hub, alerts read back from its SNS topic.
 */
import { ACMClient, ImportCertificateCommand } from '@aws-sdk/client-acm';
import { EnableSecurityHubCommand, GetFindingsCommand, SecurityHubClient } from '@aws-sdk/client-securityhub';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { beforeAll, describe, expect, it } from 'vitest';
import { handleCertificateEvent } from '../../lambda/certificate-alert/certificate-alert.js';
import { scanCertificates } from '../../lambda/expiry-scan/expiry-scan.js';
import { findingId } from '../../lambda/shared/certificate-finding.js';
import { makeCertificate } from '../helpers/certificates.js';
import { aboutCertificate, fixtureEvent } from '../helpers/events.js';
import { MOTO_REGION, motoClientConfig, motoState } from './moto.js';

let config: ReturnType<typeof motoClientConfig>;
let topicArn: string;
let expiringArn: string;
beforeAll(async () => {
  config = motoClientConfig();
  await new SecurityHubClient(config).send(new EnableSecurityHubCommand({}));
  topicArn = (await new SNSClient(config).send(new CreateTopicCommand({ Name: 'expiry-alerts' }))).TopicArn!;
  const acm = new ACMClient(config);
  const expiring = makeCertificate('ec', 'soon.example.com', 10);
  expiringArn = (
    await acm.send(
      new ImportCertificateCommand({
        Certificate: Buffer.from(expiring.certificatePem),
        PrivateKey: Buffer.from(expiring.privateKeyPem),
        CertificateChain: Buffer.from(expiring.chainPem),
      }),
    )
  ).CertificateArn!;
  const later = makeCertificate('rsa', 'later.example.com', 200);
  await acm.send(
    new ImportCertificateCommand({
      Certificate: Buffer.from(later.certificatePem),
      PrivateKey: Buffer.from(later.privateKeyPem),
    }),
  );
});

async function sentTo(arn: string) {
  const topics = (await motoState()).sns!.Topic as {
    arn: string;
    sent_notifications: [string, string, string, Record<string, { Value: string }>][];
  }[];
  return topics.find((topic) => topic.arn === arn)?.sent_notifications ?? [];
}

describe('expiry alerts against a local AWS API', () => {
  it('the scan finds the imported certificate expiring in 10 days, records a finding and sends one digest', async () => {
    const outcome = await scanCertificates({
      acm: new ACMClient(config),
      securityHub: new SecurityHubClient(config),
      sns: new SNSClient(config),
      topicArn,
      securityHubRegion: MOTO_REGION,
      thresholdDays: 45,
      now: () => new Date(),
    });
    expect(outcome).toMatchObject({ insideWindow: 1, findings: 1, notified: true, findingsRefused: 0 });

    const id = findingId(expiringArn, 'expiry');
    const { Findings: listed } = await new SecurityHubClient(config).send(
      new GetFindingsCommand({ Filters: { Id: [{ Value: id, Comparison: 'EQUALS' }] } }),
    );
    // moto ignores the Id filter: other suites' findings (the audit's) come back too when they ran first.
    const Findings = listed!.filter((finding) => finding.Id === id);
    expect(Findings).toHaveLength(1);
    expect(Findings![0]).toMatchObject({
      Title: 'Certificate for soon.example.com expires in 9 days',
      Resources: [expect.objectContaining({ Type: 'AwsCertificateManagerCertificate', Id: expiringArn })],
    });

    const sent = await sentTo(topicArn);
    expect(sent).toHaveLength(1);
    const [, message, subject, attributes] = sent[0]!;
    expect(subject).toBe('Certificates expiring within 45 days: 1 certificate');
    expect(JSON.parse(message)).toHaveProperty('email');
    expect(attributes.event_type!.Value).toBe('ExpiryDigest');
  });

  it('the alert handler turns the Approaching Expiration event into the same finding and an alert', async () => {
    const event = aboutCertificate(
      fixtureEvent<{ resources: string[]; 'detail-type': string }>('acm-certificate-approaching-expiration'),
      expiringArn,
    );
    const outcome = await handleCertificateEvent(event, {
      acm: new ACMClient(config),
      securityHub: new SecurityHubClient(config),
      sns: new SNSClient(config),
      topicArn,
      securityHubRegion: MOTO_REGION,
      now: () => new Date(),
    });
    expect(outcome).toMatchObject({ findingId: findingId(expiringArn, 'expiry'), notified: true });
    expect(outcome.findingSkippedBecause).toBeUndefined();
    const sent = await sentTo(topicArn);
    expect(sent.at(-1)![2]).toBe('Certificate expires in 9 days: soon.example.com');
  });
});
