import { PutResourcePolicyCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ExportRequest, TargetLocation } from './export-request.js';

/**
 * A mapping's secret, read by hosts in another account: its resource policy names that account (a
 * principal, never "*"), and only roles of it carrying the mapping's tag, within the organization. The
 * host's own identity policy (the member stack's) and the key policy must allow the read too.
 */
export function targetReadPolicy(
  request: Pick<ExportRequest, 'TargetTagKey' | 'TargetTagValue'>,
  location: TargetLocation,
  settings: { readonly partition: string; readonly organizationId: string },
): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'HostsOfTheTargetAccountWithTheTag',
        Effect: 'Allow',
        Principal: { AWS: `arn:${settings.partition}:iam::${location.TargetAccount}:root` },
        Action: 'secretsmanager:GetSecretValue',
        Resource: '*',
        Condition: {
          StringEquals: {
            [`aws:PrincipalTag/${request.TargetTagKey}`]: request.TargetTagValue,
            'aws:PrincipalAccount': location.TargetAccount,
            'aws:PrincipalOrgID': settings.organizationId,
          },
        },
      },
    ],
  });
}

/**
 * Puts the policy on the secret (the same policy again changes nothing). BlockPublicPolicy makes Secrets
 * Manager refuse a policy that would let anyone outside the account in, should this code ever write one.
 */
export async function shareSecretWithTarget(
  secrets: SecretsManagerClient,
  secretId: string,
  policy: string,
): Promise<void> {
  await secrets.send(
    new PutResourcePolicyCommand({ SecretId: secretId, ResourcePolicy: policy, BlockPublicPolicy: true }),
  );
}
