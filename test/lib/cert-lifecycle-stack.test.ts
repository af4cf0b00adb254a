import { DEFAULT_HOST_INSTALL } from '../../lambda/shared/install-parameters.js';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportRequestJsonSchema } from '../../lambda/shared/export-request.js';
import {
  type CommandDocumentContent,
  commandDocumentContent,
  embeddedScript,
} from '../../lib/command-document.js';
import { PROJECT_ROOT, ssmDocumentFile, ssmScriptFile, stateMachineFile } from '../../lib/paths.js';
import { synthesize } from '../helpers/stack.js';

/** Every handler folder under lambda/ is one function of the stack. */
const HANDLERS = readdirSync(path.join(PROJECT_ROOT, 'lambda')).filter((name) => name !== 'shared');

let template: Template;
beforeAll(() => {
  template = synthesize({ alertEmails: ['ops@example.com'] }).template;
});

type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown; Effect: string };
function allStatements(): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies).flatMap(
    (policy) =>
      (policy as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument
        .Statement,
  );
}
const actionsOf = (statement: Statement) => [statement.Action].flat();
function statementsAllowing(action: string): Statement[] {
  return allStatements().filter((statement) => actionsOf(statement).includes(action));
}

describe('inventory table', () => {
  it('is keyed and indexed as the data model says, on demand, recoverable, encrypted and retained', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        TableName: 'CertTagMapping',
        KeySchema: [
          { AttributeName: 'TagKeyValue', KeyType: 'HASH' },
          { AttributeName: 'CertificateArn#CertName', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        DeletionProtectionEnabled: true,
        GlobalSecondaryIndexes: [
          {
            IndexName: 'CertificateArnIndex',
            KeySchema: [{ AttributeName: 'CertificateArn', KeyType: 'HASH' }],
            Projection: { ProjectionType: 'ALL' },
          },
          {
            IndexName: 'AssociationIdIndex',
            KeySchema: [{ AttributeName: 'AssociationId', KeyType: 'HASH' }],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      },
    });
  });

  it('takes its name from context', () => {
    synthesize({ tableName: 'TeamCertificates' }).template.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'TeamCertificates',
    });
  });
});

describe('export API', () => {
  it("changes no account-wide setting by default: the account's own API Gateway logging role is used", () => {
    template.resourceCountIs('AWS::ApiGateway::Account', 0);
    const opted = synthesize({ apiGatewayAccountLoggingRole: true }).template;
    opted.resourceCountIs('AWS::ApiGateway::Account', 1);
  });

  it('requires IAM (SigV4) authorization and validates the body with the shared model for any content type', () => {
    template.hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: 'POST',
      AuthorizationType: 'AWS_IAM',
      RequestValidatorId: Match.anyValue(),
      RequestModels: { 'application/json': Match.anyValue(), $default: Match.anyValue() },
    });
    template.hasResourceProperties('AWS::ApiGateway::RequestValidator', { ValidateRequestBody: true });
    template.hasResourceProperties('AWS::ApiGateway::Model', {
      ContentType: 'application/json',
      Schema: exportRequestJsonSchema(),
    });
  });

  it('starts the Standard workflow directly and never answers 200 for a failed start', () => {
    template.hasResourceProperties('AWS::ApiGateway::Method', {
      Integration: {
        Type: 'AWS',
        IntegrationHttpMethod: 'POST',
        Uri: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp(':states:action/StartExecution')])] },
        PassthroughBehavior: 'NEVER',
        IntegrationResponses: [
          Match.objectLike({ SelectionPattern: '2\\d{2}', StatusCode: '202' }),
          Match.objectLike({ StatusCode: '500' }),
        ],
      },
    });
    const methods = template.findResources('AWS::ApiGateway::Method', { Properties: { HttpMethod: 'POST' } });
    const responses = Object.values(methods)[0]!.Properties.Integration.IntegrationResponses as {
      StatusCode: string;
    }[];
    expect(responses.map((response) => response.StatusCode)).not.toContain('200');
  });

  it('answers a body that fails validation with 400 and the reasons', () => {
    template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'BAD_REQUEST_BODY',
      StatusCode: '400',
      ResponseTemplates: { 'application/json': Match.stringLikeRegexp('validationErrorString') },
    });
  });

  it("throttles below ACM's ExportCertificate quota by default, and answers 429 with the limits past it", () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: [
        Match.objectLike({
          HttpMethod: '*',
          ResourcePath: '/*',
          ThrottlingRateLimit: 2,
          ThrottlingBurstLimit: 4,
        }),
      ],
    });
    template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'THROTTLED',
      StatusCode: '429',
      ResponseParameters: { 'gatewayresponse.header.Retry-After': "'1'" },
      ResponseTemplates: {
        'application/json': Match.stringLikeRegexp('accepts 2 per second, 4 at once'),
      },
    });
  });

  it('takes its throttle from context', () => {
    synthesize({ apiThrottleRatePerSecond: 1, apiThrottleBurst: 2 }).template.hasResourceProperties(
      'AWS::ApiGateway::Stage',
      { MethodSettings: [Match.objectLike({ ThrottlingRateLimit: 1, ThrottlingBurstLimit: 2 })] },
    );
  });

  it('writes access logs and execution errors', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.anyValue() },
      MethodSettings: [Match.objectLike({ LoggingLevel: 'ERROR', DataTraceEnabled: false })],
    });
  });

  it('lets only API Gateway and the renewal trigger start executions, of this state machine only', () => {
    const starts = statementsAllowing('states:StartExecution');
    expect(starts).toHaveLength(2);
    for (const start of starts) expect((start.Resource as { Ref: string }).Ref).toMatch(/StateMachine/);
  });
});

describe('unmapping', () => {
  it('answers DELETE /export-cert behind the same IAM auth, with its own model of the four fields', () => {
    template.hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: 'DELETE',
      AuthorizationType: 'AWS_IAM',
      RequestValidatorId: Match.anyValue(),
      Integration: Match.objectLike({ Type: 'AWS_PROXY' }),
    });
    template.hasResourceProperties('AWS::ApiGateway::Model', {
      ContentType: 'application/json',
      Schema: exportRequestJsonSchema('unmap'),
    });
  });

  it("may delete only this deployment's associations and schedule deletion only of the app's secrets", () => {
    const deletes = statementsAllowing('ssm:DeleteAssociation');
    const scoped = deletes.filter((statement) =>
      JSON.stringify(statement.Resource).includes(':association/*'),
    );
    expect(scoped.length).toBeGreaterThan(0);
    for (const statement of scoped) {
      expect(JSON.stringify(statement.Condition)).toContain('aws:ResourceTag/cert-lifecycle:deployment');
    }
    const secretDeletes = statementsAllowing('secretsmanager:DeleteSecret');
    expect(secretDeletes).toHaveLength(1);
    expect(JSON.stringify(secretDeletes[0]!.Resource)).toContain(':secret:acm-passphrase/*');
  });

  it('creates associations only with the deployment tag on them', () => {
    const creates = statementsAllowing('ssm:CreateAssociation').filter((statement) =>
      JSON.stringify(statement.Resource).includes(':association/*'),
    );
    expect(creates).toHaveLength(1);
    expect(JSON.stringify(creates[0]!.Condition)).toContain('aws:RequestTag/cert-lifecycle:deployment');
  });
});

describe('convergence', () => {
  it("follows every run of the install document's associations, host by host", () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.ssm'],
        'detail-type': ['EC2 State Manager Instance Association State Change'],
        detail: { 'document-name': ['Install-ACMCertificate'], status: ['Success', 'Failed'] },
      },
    });
  });

  it('hands an ended install command to the execution waiting for it, and sweeps for lost events', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.ssm'],
        'detail-type': ['EC2 Command Status-change Notification'],
        detail: {
          'document-name': ['Install-ACMCertificate'],
          status: ['Success', 'Failed', 'TimedOut', 'Cancelled'],
        },
      },
    });
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(5 minutes)' });
  });

  it('lets only the functions that wait or complete send task success, on this state machine only', () => {
    const [machine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
    const name = machine!.Properties.StateMachineName as string;
    const completions = statementsAllowing('states:SendTaskSuccess');
    expect(completions).toHaveLength(2);
    for (const statement of completions) {
      expect(JSON.stringify(statement.Resource)).toContain(`:stateMachine:${name}`);
    }
  });
});

describe('export-install state machine', () => {
  it('is a Standard workflow with full logging but no execution data in the logs, and tracing', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false, Destinations: Match.anyValue() },
      TracingConfiguration: { Enabled: true },
    });
  });

  it('is deployed from the ASL file, with a substitution for every placeholder in it', () => {
    const machine = Object.values(template.findResources('AWS::StepFunctions::StateMachine'))[0]!;
    const file = readFileSync(stateMachineFile('export-install'), 'utf8');
    const placeholders = [...new Set([...file.matchAll(/\$\{(\w+)\}/g)].map((match) => match[1]))].sort();
    expect(Object.keys(machine.Properties.DefinitionSubstitutions).sort()).toEqual(placeholders);
    // The file itself is uploaded as an asset and referenced, not re-rendered by CDK.
    expect(machine.Properties.DefinitionS3Location).toBeDefined();
  });

  it('may invoke exactly its three step functions, on their unqualified ARNs', () => {
    const invokes = statementsAllowing('lambda:InvokeFunction');
    expect(invokes).toHaveLength(1);
    expect(invokes[0]!.Resource).toHaveLength(3);
  });
});

describe('least privilege', () => {
  it('grants no wildcard action anywhere', () => {
    for (const statement of allStatements()) {
      for (const action of actionsOf(statement)) expect(action).not.toMatch(/(^\*$|:\*$)/);
    }
  });

  it('scopes certificate export to this account and Region', () => {
    const exportStatement = statementsAllowing('acm:ExportCertificate')[0]!;
    expect(JSON.stringify(exportStatement.Resource)).toContain(':certificate/*');
    expect(JSON.stringify(exportStatement.Resource)).toContain('AWS::AccountId');
  });

  it('keeps secret writes under the acm-passphrase/ prefix, and nothing in the app can read a secret', () => {
    const writes = statementsAllowing('secretsmanager:PutSecretValue');
    expect(writes).toHaveLength(1);
    expect(JSON.stringify(writes[0]!.Resource)).toContain(':secret:acm-passphrase/*');
    expect(statementsAllowing('secretsmanager:GetSecretValue')).toEqual([]);
  });

  it('uses the app key only through Secrets Manager and SNS', () => {
    const keyUses = allStatements().filter((statement) =>
      actionsOf(statement).some((action) => action.startsWith('kms:')),
    );
    expect(keyUses.length).toBeGreaterThan(0);
    const services = keyUses.map((statement) => {
      const condition = statement.Condition as { StringEquals: Record<string, unknown> };
      expect(Object.keys(condition.StringEquals)).toEqual(['kms:ViaService']);
      return JSON.stringify(condition.StringEquals['kms:ViaService']).match(/"(\w+)\./)?.[1];
    });
    expect(new Set(services)).toEqual(new Set(['secretsmanager', 'sns']));
  });

  it('allows SendCommand only with the install document, the read-only check document or the Remove document', () => {
    const documents = statementsAllowing('ssm:SendCommand')
      .map((send) => JSON.stringify(send.Resource))
      .filter((resources) => resources.includes(':document/'));
    expect(documents).toHaveLength(3);
    expect(
      documents.filter((resources) => resources.includes(':document/Install-ACMCertificate')),
    ).toHaveLength(1);
    expect(documents.filter((resources) => resources.includes('-Check-ACMCertificate'))).toHaveLength(1);
    expect(documents.filter((resources) => resources.includes('-Remove-ACMCertificate'))).toHaveLength(1);
    for (const resources of documents) {
      expect(resources).not.toContain('document/*');
      expect(resources).not.toContain('instance/*');
    }
  });

  it('allows SendCommand only to instances and managed nodes that carry one of the granted tag keys', () => {
    const tagKeys = ['env', 'team:cert-target'];
    const sends = Object.values(
      synthesize({ instanceTagKeys: tagKeys }).template.findResources('AWS::IAM::Policy'),
    )
      .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[])
      .filter((statement) => actionsOf(statement).includes('ssm:SendCommand'))
      .filter((statement) => JSON.stringify(statement.Resource).includes('instance/*'));
    // Three senders (install step, drift check, unmap), one statement per tag key each: the keys of one
    // condition must all match, so a node with either key needs a statement of its own.
    expect(sends).toHaveLength(3 * tagKeys.length);
    for (const send of sends) {
      const resources = JSON.stringify(send.Resource);
      expect(resources).toContain(':instance/*');
      expect(resources).toContain(':managed-instance/*');
      expect(resources).not.toContain(':document/');
      expect(Object.keys(send.Condition as object)).toEqual(['StringLike']);
    }
    expect(
      sends.map((send) => send.Condition).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    ).toEqual([
      { StringLike: { 'ssm:resourceTag/env': '*' } },
      { StringLike: { 'ssm:resourceTag/env': '*' } },
      { StringLike: { 'ssm:resourceTag/env': '*' } },
      { StringLike: { 'ssm:resourceTag/team:cert-target': '*' } },
      { StringLike: { 'ssm:resourceTag/team:cert-target': '*' } },
      { StringLike: { 'ssm:resourceTag/team:cert-target': '*' } },
    ]);
  });

  it('gives every function of the app its own role with no managed policy', () => {
    expect(Object.keys(appFunctions())).toHaveLength(HANDLERS.length);
    const appRoles = new Set(Object.values(appFunctions()).map((fn) => JSON.stringify(fn.Properties.Role)));
    for (const [logicalId, role] of Object.entries(template.findResources('AWS::IAM::Role'))) {
      if (appRoles.has(JSON.stringify({ 'Fn::GetAtt': [logicalId, 'Arn'] }))) {
        expect(role.Properties.ManagedPolicyArns, logicalId).toBeUndefined();
      }
    }
  });
});

/**
 * The app's own functions (CDK adds one more, for S3 bucket notifications at deployment time, which is
 * CDK's to define).
 */
function appFunctions() {
  return Object.fromEntries(
    Object.entries(template.findResources('AWS::Lambda::Function')).filter(
      ([logicalId]) => !logicalId.startsWith('BucketNotificationsHandler'),
    ),
  );
}

describe('functions', () => {
  it('run Node.js 22 on arm64 with their own log groups', () => {
    for (const fn of Object.values(appFunctions())) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        LoggingConfig: { LogFormat: 'JSON', LogGroup: expect.anything() },
      });
    }
  });
});

describe('alerts', () => {
  it('go to a KMS-encrypted topic that refuses plain HTTP, with the configured email subscribed', () => {
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
  });

  it('the app key rotates', () => {
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });
});

describe('command documents', () => {
  const deployed = (documents: Template, name: string) =>
    Object.values(documents.findResources('AWS::SSM::Document')).find((document) =>
      JSON.stringify(document.Properties.Name).includes(name),
    )!.Properties as { Content: CommandDocumentContent; UpdateMethod: string; DocumentType: string };

  it('is the install document from ssm-documents/, under the configured name', () => {
    const named = synthesize({ installDocumentName: 'Team-InstallCertificate' }).template;
    named.hasResourceProperties('AWS::SSM::Document', {
      Name: 'Team-InstallCertificate',
      DocumentType: 'Command',
      UpdateMethod: 'NewVersion',
      Content: commandDocumentContent('install-acm-certificate'),
    });
  });

  it.each([
    ['Install-ACMCertificate', 'install-acm-certificate', 'install-acm-certificate'],
    ['-Check-ACMCertificate', 'check-acm-certificate', 'install-acm-certificate'],
    ['-Remove-ACMCertificate', 'remove-acm-certificate', 'install-acm-certificate'],
  ])(
    '%s is ssm-documents/%s.yaml running exactly the script %s.sh, and nothing else',
    (name, file, script) => {
      const { Content } = deployed(template, name);
      const yaml = parse(readFileSync(ssmDocumentFile(file), 'utf8')) as CommandDocumentContent;
      expect(Content.parameters).toEqual(yaml.parameters);
      expect(Content.mainSteps).toHaveLength(1);
      expect(Content.mainSteps[0]!.inputs.runCommand).toEqual([
        embeddedScript(readFileSync(ssmScriptFile(script), 'utf8')),
      ]);
      // SSM's limit on a document's content, which also counts the parameters sent with a command.
      expect(Buffer.byteLength(JSON.stringify(Content))).toBeLessThan(48 * 1024);
    },
  );
});

describe('instance access policy', () => {
  function policyDocument(context: Record<string, unknown> = {}) {
    const policies = synthesize(context).template.findResources('AWS::IAM::ManagedPolicy');
    expect(Object.keys(policies)).toHaveLength(1);
    return Object.values(policies)[0]!.Properties.PolicyDocument as { Statement: Statement[] };
  }

  it('lets a host read only secrets under acm-passphrase/ whose tag equals the same tag on its role', () => {
    const [read, decrypt] = policyDocument().Statement;
    expect(read!.Action).toBe('secretsmanager:GetSecretValue');
    expect(JSON.stringify(read!.Resource)).toContain(':secret:acm-passphrase/*');
    expect(read!.Condition).toEqual({
      Null: { 'aws:PrincipalTag/env': 'false' },
      StringEquals: { 'secretsmanager:ResourceTag/env': '${aws:PrincipalTag/env}' },
    });
    expect(decrypt!.Action).toBe('kms:Decrypt');
    expect(JSON.stringify(decrypt!.Condition)).toContain('kms:ViaService');
  });

  it('has one statement per configured tag key, so any of them can match', () => {
    const statements = policyDocument({ instanceTagKeys: 'env,app:team' }).Statement;
    const conditions = statements.filter((statement) => statement.Action === 'secretsmanager:GetSecretValue');
    expect(
      conditions.map((statement) =>
        Object.keys((statement.Condition as { StringEquals: object }).StringEquals),
      ),
    ).toEqual([['secretsmanager:ResourceTag/env'], ['secretsmanager:ResourceTag/app:team']]);
  });

  it('is an output, for attaching to instance and hybrid activation roles', () => {
    template.hasOutput('InstanceAccessPolicyArn', {
      Value: { Ref: Match.stringLikeRegexp('InstanceAccessPolicy') },
    });
  });
});

describe('install settings', () => {
  it('reach the install step from configuration, as the profile named default beside the others', () => {
    const haproxy = { certDirectory: '/etc/haproxy/certs', reloadCommand: 'systemctl reload haproxy' };
    synthesize({
      installCertDirectory: '/etc/httpd/tls',
      installReloadCommand: 'systemctl reload nginx',
      installProfiles: { haproxy },
    }).template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          INSTALL_PROFILES: Match.serializedJson({
            default: {
              ...DEFAULT_HOST_INSTALL,
              certDirectory: '/etc/httpd/tls',
              reloadCommand: 'systemctl reload nginx',
            },
            haproxy: { ...DEFAULT_HOST_INSTALL, ...haproxy },
          }),
        }),
      },
    });
  });
});
