import { Aws, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { SECRET_PREFIX } from '../lambda/shared/certificate-secret.js';

export interface InstanceCertificateAccessProps {
  /**
   * The key the certificate secrets are encrypted with; or, for hosts in another account than the
   * secrets, the keys of that account's Region whose alias is `keyAlias`.
   */
  readonly key: kms.IKey | { readonly keyAlias: string };
  /**
   * Tag keys compared between a secret and the calling role: a host may read a secret only when the
   * secret's tag `<key>` equals the same tag on the host's role. @default ['env']
   */
  readonly tagKeys?: readonly string[];
  /** The account and Region the secrets live in. @default this stack's */
  readonly secretsAccount?: string;
  readonly secretsRegion?: string;
  /** A fixed name, for a policy deployed alike in many accounts. @default a generated one */
  readonly managedPolicyName?: string;
}

/**
 * The managed policy to attach to the roles of the hosts that install certificates: EC2 instance
 * profiles' roles and the on-premises hybrid activation role. ABAC: a role tagged `env=dev` reads only
 * the secrets tagged `env=dev`, and decrypts them only through Secrets Manager.
 */
export class InstanceCertificateAccess extends Construct {
  readonly policy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: InstanceCertificateAccessProps) {
    super(scope, id);
    const account = props.secretsAccount ?? Aws.ACCOUNT_ID;
    const region = props.secretsRegion ?? Aws.REGION;
    const secrets = `arn:${Aws.PARTITION}:secretsmanager:${region}:${account}:secret:${SECRET_PREFIX}*`;
    const viaSecretsManager = { 'kms:ViaService': `secretsmanager.${region}.amazonaws.com` };
    // The same ARNs as cdk-nag names them in its findings.
    const nag = (service: string, resource: string) =>
      `arn:<AWS::Partition>:${service}:${props.secretsRegion ?? '<AWS::Region>'}:${props.secretsAccount ?? '<AWS::AccountId>'}:${resource}`;
    this.policy = new iam.ManagedPolicy(this, 'Policy', {
      ...(props.managedPolicyName ? { managedPolicyName: props.managedPolicyName } : {}),
      description: 'Lets a host read the exported certificates tagged like its own role, and nothing else',
      statements: [
        ...(props.tagKeys ?? ['env']).map(
          (tagKey) =>
            new iam.PolicyStatement({
              sid: `ReadCertificatesTaggedLikeTheRole${tagKey.replace(/[^A-Za-z0-9]/g, '')}`,
              actions: ['secretsmanager:GetSecretValue'],
              resources: [secrets],
              conditions: {
                // A role without the tag matches nothing, rather than everything that lacks it too.
                Null: { [`aws:PrincipalTag/${tagKey}`]: 'false' },
                StringEquals: { [`secretsmanager:ResourceTag/${tagKey}`]: `\${aws:PrincipalTag/${tagKey}}` },
              },
            }),
        ),
        'keyAlias' in props.key
          ? new iam.PolicyStatement({
              sid: 'DecryptThroughSecretsManager',
              actions: ['kms:Decrypt'],
              // The key's id is the other account's; its alias names it (kms:ResourceAliases).
              resources: [`arn:${Aws.PARTITION}:kms:${region}:${account}:key/*`],
              conditions: {
                StringEquals: viaSecretsManager,
                'ForAnyValue:StringEquals': { 'kms:ResourceAliases': props.key.keyAlias },
              },
            })
          : new iam.PolicyStatement({
              sid: 'DecryptThroughSecretsManager',
              actions: ['kms:Decrypt'],
              resources: [props.key.keyArn],
              conditions: { StringEquals: viaSecretsManager },
            }),
      ],
    });
    Validations.of(this.policy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nag('secretsmanager', `secret:${SECRET_PREFIX}*`)}]`,
      reason:
        "Secrets are created per mapping at run time; the condition limits a host to those whose tag matches its role's.",
    });
    if ('keyAlias' in props.key) {
      Validations.of(this.policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nag('kms', 'key/*')}]`,
        reason:
          "The secrets' key is another account's, known here by its alias: kms:ResourceAliases and kms:ViaService limit Decrypt to that key, through Secrets Manager.",
      });
    }
  }
}
