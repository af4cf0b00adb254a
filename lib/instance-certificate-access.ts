import { Aws, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { SECRET_PREFIX } from '../lambda/shared/certificate-secret.js';

export interface InstanceCertificateAccessProps {
  /** The key the certificate secrets are encrypted with. */
  readonly key: kms.IKey;
  /**
   * Tag keys compared between a secret and the calling role: a host may read a secret only when the
   * secret's tag `<key>` equals the same tag on the host's role. @default ['env']
   */
  readonly tagKeys?: readonly string[];
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
    const secrets = `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${SECRET_PREFIX}*`;
    this.policy = new iam.ManagedPolicy(this, 'Policy', {
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
        new iam.PolicyStatement({
          sid: 'DecryptThroughSecretsManager',
          actions: ['kms:Decrypt'],
          resources: [props.key.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` } },
        }),
      ],
    });
    Validations.of(this.policy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${SECRET_PREFIX}*]`,
      reason:
        "Secrets are created per mapping at run time; the condition limits a host to those whose tag matches its role's.",
    });
  }
}
