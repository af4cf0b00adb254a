/**
 * Runs `state-machines/export-install.asl.json` itself with aws-local-stepfunctions, its Task states
 * bound to the real Lambda handlers (the deployed `handler.ts` modules). ACM, Secrets Manager, SSM
 * (commands and State Manager) and Step Functions' task-token calls are mocked with aws-sdk-client-mock;
 * the inventory and the install waits are real DynamoDB tables (dynalite). The RecordAndInstall task
 * runs as Step Functions runs a `.waitForTaskToken` task: the handler gets the token and returns, and the
 * task ends only when someone calls SendTaskSuccess with it, here the real install-finished handler
 * invoked with SSM's status-change event (or the sweep, with `scenario.eventLost`). Everything the run
 * writes anywhere (state, logs, items, commands, associations, messages) is kept for assertions.
 */
import { ACMClient, type CertificateDetail } from '@aws-sdk/client-acm';
import { IAMClient, ListAttachedRolePoliciesCommand, ListRoleTagsCommand } from '@aws-sdk/client-iam';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  type CommandInvocation,
  DescribeInstanceInformationCommand,
  type InstanceInformation,
  ListCommandInvocationsCommand,
  ListComplianceItemsCommand,
  ListCommandsCommand,
  SendCommandCommand,
  type SendCommandCommandInput,
  type ServiceInputTypes,
  type ServiceOutputTypes,
  SSMClient,
  type SSMClientResolvedConfig,
} from '@aws-sdk/client-ssm';
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import {
  CreateAssociationCommand,
  type CreateAssociationCommandInput,
  DescribeAssociationCommand,
  ListAssociationsCommand,
  UpdateAssociationCommand,
} from '@aws-sdk/client-ssm';
import { DynamoDBClient, UpdateItemCommand, type UpdateItemCommandInput } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { StateMachine } from 'aws-local-stepfunctions';
import { type AwsStub, mockClient } from 'aws-sdk-client-mock';
import { readFileSync } from 'node:fs';
import { stateMachineFile } from '../../lib/paths.js';
import { type SecretsStore, certificateDetail, fakeAcmAndSecrets } from './acm-fake.js';
import type { TestCertificate } from './certificates.js';
import { type LocalDynamo, startLocalDynamo } from './dynalite.js';
import { type AgentHost, FakeHost, secretIdsOf } from './install-script.js';
import { type FaultCounts, type FaultPlan, injectFaults, seededRandom } from './faults.js';
import { invocation } from './ssm-fake.js';
import {
  ACCOUNT_ID,
  FUNCTION_ARN,
  INSTANCE_ACCESS_POLICY_ARN,
  KMS_KEY_ARN,
  PROFILES,
  REGION,
} from './fixtures.js';
import { DEFAULT_HOST_INSTALL } from '../../lambda/shared/install-parameters.js';

/** The part of aws-local-stepfunctions' execution events the tests read (as in a real execution history). */
export interface EventLog {
  readonly type: string;
  readonly state?: { readonly name: string; readonly input?: unknown; readonly output?: unknown };
  readonly Error?: string;
  readonly Cause?: unknown;
}

export const TASK_STATES = [
  'ExportCertificate',
  'RecordAndInstall',
  'DryRun',
  'DryRunHostsAnswered',
  'NotifyFailure',
] as const;
type TaskState = (typeof TASK_STATES)[number];

/** The definition exactly as the stack deploys it, with placeholders filled the way CloudFormation does. */
export function deployedDefinition(): Record<string, unknown> {
  const substitutions: Record<string, string> = {
    ExportCertificateFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT_ID}:function:ExportCertificate`,
    RecordAndInstallFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT_ID}:function:RecordAndInstall`,
    DryRunFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT_ID}:function:DryRun`,
    AlertTopicArn: `arn:aws:sns:${REGION}:${ACCOUNT_ID}:alerts`,
    InventoryTableName: 'inventory',
    Partition: 'aws',
  };
  const text = readFileSync(stateMachineFile('export-install'), 'utf8').replace(
    /\$\{(\w+)\}/g,
    (placeholder, name: string) => {
      const value = substitutions[name];
      if (value === undefined) throw new Error(`no substitution for ${placeholder}`);
      return value;
    },
  );
  return JSON.parse(text) as Record<string, unknown>;
}

export interface CommandProgress {
  readonly status: string;
  readonly targetCount: number;
  readonly completedCount?: number;
}

export interface WorkflowScenario {
  readonly certificate: TestCertificate;
  readonly detail?: Partial<CertificateDetail>;
  /**
   * What successive ListCommands calls answer; the last entry repeats. Each entry after the first is
   * one more status-change event (or sweep) the command's end is looked at with.
   */
  readonly commandProgress?: readonly CommandProgress[];
  readonly invocations?: readonly CommandInvocation[];
  /** How long the workflow waits for a command (INSTALL_MAX_WAIT_SECONDS). @default 900 */
  readonly maxWaitSeconds?: number;
  /** SSM's status-change event never arrives: only the slow sweep finds the command's end. */
  readonly eventLost?: boolean;
  /** Task states whose Lambda invocation fails this many times with Lambda.ServiceException first. */
  readonly lambdaServiceErrors?: Partial<Record<TaskState, number>>;
  /**
   * Task states whose function runs, and does what it does, but whose response is lost this many times
   * (Lambda.ServiceException after the fact): Step Functions retries a step that already took effect.
   */
  readonly lostResponses?: Partial<Record<TaskState, number>>;
  /**
   * Random passing failures of every ACM, Secrets Manager, SSM and Step Functions call, before or after
   * it took effect, and of the steps' responses (seeded: see test/helpers/faults.ts).
   */
  readonly faults?: FaultPlan;
  /**
   * Managed instances that carry the target tag and really run the install document's script (in
   * temporary roots) when the workflow sends it; their results drive the command's status. When absent,
   * `commandProgress` and `invocations` script SSM's answers instead.
   */
  readonly hosts?: readonly AgentHost[];
  /**
   * What SSM DescribeInstanceInformation knows of the tagged instances (for dry runs). @default with
   * `hosts`: each of them online, Linux, with a current agent
   */
  readonly instanceInformation?: readonly InstanceInformation[];
  /** What IAM says of the role the hosts run as (FakeHost.ROLE_ARN's): its tags and attached policies. */
  readonly hostRole?: { readonly tags: Record<string, string>; readonly policyArns: readonly string[] };
  /** ACM answers ExportCertificate with ThrottlingException this many times before it exports. */
  readonly exportThrottles?: number;
  /** Keep the inventory in this table (made with `harness.dynamo`) rather than a fresh one. */
  readonly tableName?: string;
  /** The SNS publish itself fails. */
  readonly notificationFails?: boolean;
}

export interface PublishedAlert {
  readonly TopicArn: string;
  readonly Subject: string;
  readonly Message: string;
  readonly MessageAttributes: Record<string, { DataType: string; StringValue: string }>;
}

export interface WorkflowRun {
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly output?: Record<string, unknown>;
  readonly error?: string;
  readonly cause?: string;
  readonly events: EventLog[];
  /** Every state the execution entered, in order: the billable state transitions. */
  readonly transitions: string[];
  readonly logLines: string[];
  readonly alerts: PublishedAlert[];
  readonly sendCommands: SendCommandCommandInput[];
  /** The Region of the SSM client each command went through: a member mapping's is its member's. */
  readonly commandRegions: string[];
  /** The same for each association created or updated. */
  readonly associationRegions: string[];
  /** The associations the run created (State Manager starts with none). */
  readonly createdAssociations: CreateAssociationCommandInput[];
  /** How the command's end reached the execution: SSM's event, the step's own look, or the sweep. */
  readonly completedBy?: 'event' | 'step' | 'sweep';
  /** How long the look that ended the wait took, from its event to SendTaskSuccess (milliseconds). */
  readonly handoffMs?: number;
  /** How many times the command was looked at while the execution waited (events and sweeps). */
  readonly looks: number;
  readonly inventoryItems: Record<string, unknown>[];
  readonly secrets: SecretsStore;
  /** ExportCertificate calls ACM answered with an export during the run. */
  readonly exports: number;
  /** The faults injected (scenario.faults). */
  readonly faults: FaultCounts;
  /** Every AWS API call the run's handlers made (ACM, Secrets Manager, SSM, IAM, Step Functions), by name. */
  readonly calls: Record<string, number>;
}

/** What outlives one run in an account (runs that share an inventory table share an account). */
export interface HarnessAccount {
  readonly associations: Map<string, CreateAssociationCommandInput>;
  readonly secrets: SecretsStore;
  readonly exportClaimsTable: string;
}

export interface WorkflowHarness {
  /** The inventory's engine, for tests that share a table between runs (`scenario.tableName`). */
  readonly dynamo: LocalDynamo;
  /** The account of an inventory table: its secrets and export claims, for steps run beside the workflow. */
  account(tableName: string): Promise<HarnessAccount>;
  /** The associations State Manager holds after the last run's account, by id (created or updated). */
  readonly associations: ReadonlyMap<string, CreateAssociationCommandInput>;
  run(input: unknown, scenario: WorkflowScenario): Promise<WorkflowRun>;
  stop(): Promise<void>;
}

type Handler = (event: unknown, context: { invokedFunctionArn: string }) => Promise<unknown>;

export interface HarnessOptions {
  /** The DynamoDB engine for the inventory. @default a dynalite started for the harness */
  readonly dynamo?: LocalDynamo;
  /** Sends the workflow's alerts. @default records them after SNS's own size checks */
  readonly publish?: (params: PublishedAlert) => Promise<unknown>;
}

export async function startWorkflowHarness(options: HarnessOptions = {}): Promise<WorkflowHarness> {
  const dynamo: LocalDynamo = options.dynamo ?? (await startLocalDynamo());
  // The failure path's DynamoDB service integration sends the low-level UpdateItem shape.
  const rawDynamo = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: REGION,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  // The handlers create their clients when imported, from the same variables Lambda would give them.
  Object.assign(process.env, {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    POWERTOOLS_DEV: 'true',
    POWERTOOLS_LOG_LEVEL: 'INFO',
    SECRET_KMS_KEY_ARN: KMS_KEY_ARN,
    GRANTED_TAG_KEYS: 'env',
    INSTALL_DOCUMENT_NAME: 'Install-ACMCertificate',
    INSTALL_MAX_CONCURRENCY: '25%',
    INSTALL_MAX_ERRORS: '0',
    INSTALL_DELIVERY_TIMEOUT_SECONDS: '600',
    INSTALL_PROFILES: JSON.stringify({ default: DEFAULT_HOST_INSTALL, haproxy: PROFILES.haproxy }),
    CONVERGENCE_SCHEDULE: 'rate(1 day)',
    CONVERGENCE_MAX_CONCURRENCY: '10%',
    CONVERGENCE_MAX_ERRORS: '10%',
    CONVERGENCE_COMPLIANCE_SEVERITY: 'HIGH',
    DEPLOYMENT_TAG_VALUE: 'CertLifecycle',
    DRY_RUN_DOCUMENT_NAME: 'CertLifecycle-DryRun-ACMCertificate',
    INSTANCE_ACCESS_POLICY_ARN: INSTANCE_ACCESS_POLICY_ARN,
    // An organization's deployment: mappings may name its accounts, here and in one more Region.
    STACK_NAME: 'CertLifecycle',
    PARTITION: 'aws',
    ORGANIZATION_ID: 'o-a1b2c3d4e5',
    TARGET_ACCOUNTS: '*',
    TARGET_REGIONS: 'eu-central-1',
  });
  const handlers: Record<Exclude<TaskState, 'NotifyFailure'>, Handler> = {
    ExportCertificate: (await import('../../lambda/export-certificate/handler.js')).handler as Handler,
    RecordAndInstall: (await import('../../lambda/record-and-install/handler.js')).handler as Handler,
    DryRun: (await import('../../lambda/dry-run/handler.js')).handler as Handler,
    DryRunHostsAnswered: (await import('../../lambda/dry-run/handler.js')).handler as Handler,
  };
  const installFinished = (await import('../../lambda/install-finished/handler.js')).handler as Handler;
  const definition = deployedDefinition();
  let executionCount = 0;
  // State Manager's associations outlive executions, as in an account: runs that share an inventory
  // (`scenario.tableName`) share an account, so a renewal finds the export's association.
  const accounts = new Map<string, HarnessAccount>();
  let associations = new Map<string, CreateAssociationCommandInput>();
  const accountOf = async (tableName: string): Promise<HarnessAccount> => {
    const known = accounts.get(tableName);
    if (known) return known;
    const account: HarnessAccount = {
      associations: new Map(),
      secrets: new Map(),
      exportClaimsTable: await dynamo.createExportClaimsTable(),
    };
    accounts.set(tableName, account);
    return account;
  };

  return {
    dynamo,
    account: accountOf,
    get associations() {
      return associations;
    },
    stop: () => (options.dynamo ? Promise.resolve() : dynamo.stop()),
    async run(input, scenario) {
      executionCount += 1;
      const tableName = scenario.tableName ?? (await dynamo.createInventoryTable());
      const account = await accountOf(tableName);
      associations = account.associations;
      process.env.EXPORT_CLAIMS_TABLE_NAME = account.exportClaimsTable;
      process.env.TABLE_NAME = tableName;
      process.env.WAITS_TABLE_NAME = await dynamo.createWaitsTable();
      process.env.INSTALL_MAX_WAIT_SECONDS = String(scenario.maxWaitSeconds ?? 900);

      const fakes = fakeAcmAndSecrets(
        scenario.certificate,
        certificateDetail(scenario.certificate, scenario.detail),
        { exportThrottles: scenario.exportThrottles, stored: account.secrets },
      );
      const ssm = scenario.hosts
        ? agentsOn(scenario.hosts, fakes.stored, scenario.instanceInformation)
        : fakeSsm(scenario);
      const iam = fakeIam(scenario.hostRole);
      const stateManager = fakeStateManager(ssm, associations);
      const stepFunctions = mockClient(SFNClient);
      const tokenOutputs = new Map<string, string>();
      stepFunctions.on(SendTaskSuccessCommand).callsFake((call: { taskToken: string; output: string }) => {
        if (tokenOutputs.has(call.taskToken)) {
          throw Object.assign(new Error('Task Timed Out'), { name: 'TaskTimedOut' });
        }
        tokenOutputs.set(call.taskToken, call.output);
        return {};
      });
      let completedBy: WorkflowRun['completedBy'];
      let handoffMs: number | undefined;
      let looks = 0;
      const alerts: PublishedAlert[] = [];
      const logLines: string[] = [];
      const restoreOutput = captureOutput(logLines);
      const serviceErrors = { ...scenario.lambdaServiceErrors };
      const lostResponses = { ...scenario.lostResponses };
      const faultCounts: FaultCounts = { before: 0, after: 0, lostResponses: 0 };
      const next = seededRandom(scenario.faults?.seed ?? 0);
      const removeFaults = scenario.faults
        ? injectFaults(
            [ACMClient, SecretsManagerClient, SSMClient, SFNClient, DynamoDBDocumentClient] as never,
            next,
            scenario.faults,
            faultCounts,
          )
        : () => undefined;

      const asLambda = (state: Exclude<TaskState, 'NotifyFailure'>) => async (event: unknown) => {
        if ((serviceErrors[state] ?? 0) > 0) {
          serviceErrors[state]! -= 1;
          throw Object.assign(new Error('Lambda was unable to run the function'), {
            name: 'Lambda.ServiceException',
          });
        }
        const response = await invokeLikeLambda(handlers[state], event);
        const lost = scenario.faults ? next() < scenario.faults.rate : false;
        if (lost) faultCounts.lostResponses += 1;
        if (lost || (lostResponses[state] ?? 0) > 0) {
          if (!lost) lostResponses[state]! -= 1;
          throw Object.assign(new Error('the function ran, but its response did not come back'), {
            name: 'Lambda.ServiceException',
          });
        }
        return response;
      };
      // `.waitForTaskToken`: the function is invoked with the payload and the task waits for the token.
      const awaitingToken = async (parameters: unknown) => {
        const { Payload } = parameters as { Payload: { taskToken: string } };
        await asLambda('RecordAndInstall')(Payload);
        const token = Payload.taskToken;
        if (tokenOutputs.has(token)) completedBy = 'step';
        for (let look = 0; !tokenOutputs.has(token) && look < 100; look += 1) {
          const [command] = ssm.commandCalls(SendCommandCommand).slice(-1);
          const commandId = (await command?.returnValue)?.Command?.CommandId ?? 'cmd-0001';
          const trigger = scenario.eventLost
            ? { 'detail-type': 'Scheduled Event', source: 'aws.events' }
            : {
                'detail-type': 'EC2 Command Status-change Notification',
                source: 'aws.ssm',
                detail: { 'command-id': commandId, status: 'Success' },
              };
          const started = performance.now();
          try {
            await invokeLikeLambda(installFinished, trigger);
          } catch {
            // Invoked asynchronously in AWS: Lambda retries it, and the sweep looks again anyway.
          }
          looks += 1;
          if (tokenOutputs.has(token)) {
            completedBy = scenario.eventLost ? 'sweep' : 'event';
            handoffMs = performance.now() - started;
          }
        }
        const output = tokenOutputs.get(token);
        if (output === undefined) throw new Error('nobody completed the task token');
        return JSON.parse(output) as unknown;
      };
      const publish = async (params: unknown) => {
        if (scenario.notificationFails) {
          throw Object.assign(new Error('KMS key disabled'), { name: 'SNS.KMSDisabledException' });
        }
        const alert = params as PublishedAlert;
        if (alert.Subject.length >= 100)
          throw new Error(`SNS rejects a subject of ${alert.Subject.length} characters`);
        if (Buffer.byteLength(alert.Message) > 262_144) throw new Error('SNS rejects a message over 256 KB');
        alerts.push(alert);
        if (options.publish) return options.publish(alert);
        return { MessageId: `message-${alerts.length}` };
      };

      const executionName = `run-${executionCount}`;
      const execution = new StateMachine(definition as never).run(input as never, {
        overrides: {
          taskResourceLocalHandlers: {
            ExportCertificate: asLambda('ExportCertificate'),
            RecordAndInstall: awaitingToken,
            DryRun: asLambda('DryRun'),
            DryRunHostsAnswered: asLambda('DryRunHostsAnswered'),
            NotifyFailure: publish,
            // The service integration runs against the run's own inventory table in the local engine.
            // Step Functions names the service's errors `DynamoDB.<name>`, as the state's Retry expects.
            RecordFailure: async (parameters: UpdateItemCommandInput) => {
              try {
                const response = await rawDynamo.send(
                  new UpdateItemCommand({ ...parameters, TableName: tableName }),
                );
                return { ...response, $metadata: undefined };
              } catch (error) {
                throw Object.assign(new Error((error as Error).message), {
                  name: `DynamoDB.${(error as Error).name}`,
                });
              }
            },
          } as never,
          retryIntervalOverrides: Object.fromEntries(
            [...TASK_STATES, 'RecordFailure'].map((state) => [state, 0]),
          ),
          waitTimeOverrides: { WaitForDryRunHosts: 0 },
        },
        context: {
          Execution: {
            Id: `arn:aws:states:${REGION}:${ACCOUNT_ID}:execution:ExportInstall:${executionName}`,
            Name: executionName,
            Input: input as never,
            StartTime: new Date().toISOString(),
          },
          Task: { Token: `token-${executionName}` },
        },
      });
      const events: EventLog[] = [];
      const collecting = (async () => {
        for await (const event of execution.eventLogs) events.push(event as EventLog);
      })();

      let output: Record<string, unknown> | undefined;
      try {
        output = (await execution.result) as Record<string, unknown>;
      } catch {
        // The failure is read from the ExecutionFailed event below, as it appears in a real history.
      } finally {
        restoreOutput();
      }
      await collecting;
      const failed = events.find((event) => event.type === 'ExecutionFailed');
      const result: Pick<WorkflowRun, 'status' | 'output' | 'error' | 'cause'> = failed
        ? { status: 'FAILED', error: failed.Error ?? '', cause: String(failed.Cause) }
        : { status: 'SUCCEEDED', output };

      removeFaults();
      const scanned = await dynamo.db.send(new ScanCommand({ TableName: tableName }));
      const run: WorkflowRun = {
        ...result,
        events,
        transitions: events
          .filter((event) => event.type === 'StateEntered')
          .map((event) => event.state?.name ?? ''),
        logLines,
        alerts,
        sendCommands: ssm.commandCalls(SendCommandCommand).map((call) => call.args[0].input),
        commandRegions: await regionsOf(ssm.commandCalls(SendCommandCommand)),
        associationRegions: await regionsOf([
          ...ssm.commandCalls(CreateAssociationCommand),
          ...ssm.commandCalls(UpdateAssociationCommand),
        ]),
        createdAssociations: [...stateManager.created],
        completedBy,
        handoffMs,
        looks,
        inventoryItems: (scanned.Items ?? []) as Record<string, unknown>[],
        secrets: fakes.stored,
        exports: fakes.exports.exports,
        faults: faultCounts,
        calls: callCounts([fakes.acm, fakes.secrets, ssm, iam, stepFunctions]),
      };
      fakes.acm.restore();
      fakes.secrets.restore();
      ssm.restore();
      iam.restore();
      stepFunctions.restore();
      return run;
    },
  };
}

/** The Region of the client each call went through. */
function regionsOf(calls: readonly { thisValue: unknown }[]): Promise<string[]> {
  return Promise.all(calls.map((call) => (call.thisValue as SSMClient).config.region()));
}

/** The calls the mocks received, by command name (`SendCommandCommand` counts as `SendCommand`). */
function callCounts(mocks: readonly { calls(): { args: unknown[] }[] }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const mock of mocks) {
    for (const call of mock.calls()) {
      const name = (call.args[0] as object).constructor.name.replace(/Command$/, '');
      counts[name] = (counts[name] ?? 0) + 1;
    }
  }
  return counts;
}

/** Calls a handler the way Lambda does: JSON in and out, and a thrown error reported as Lambda reports it. */
async function invokeLikeLambda(handler: Handler, event: unknown): Promise<unknown> {
  try {
    const result = await handler(JSON.parse(JSON.stringify(event)), { invokedFunctionArn: FUNCTION_ARN });
    return JSON.parse(JSON.stringify(result ?? null));
  } catch (error) {
    const thrown = error as Error;
    const reported = new Error(
      JSON.stringify({
        errorType: thrown.name,
        errorMessage: thrown.message,
        trace: (thrown.stack ?? '').split('\n'),
      }),
    );
    reported.name = thrown.name;
    throw reported;
  }
}

/** ListCommands searched by its filters: every command sent so far, with its comment (ids in order). */
function commandsSent(ssm: AwsStub<ServiceInputTypes, ServiceOutputTypes, SSMClientResolvedConfig>) {
  return {
    Commands: ssm.commandCalls(SendCommandCommand).map((call, index) => ({
      CommandId: `cmd-${String(index + 1).padStart(4, '0')}`,
      Comment: call.args[0].input.Comment,
      DocumentName: call.args[0].input.DocumentName,
      RequestedDateTime: new Date(),
    })),
  };
}

function fakeSsm(scenario: WorkflowScenario) {
  const ssm = mockClient(SSMClient);
  const progress = scenario.commandProgress ?? [
    { status: 'Success', targetCount: scenario.invocations?.length ?? 1 },
  ];
  let listCalls = 0;
  ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-0001', RequestedDateTime: new Date() } });
  ssm.on(ListCommandsCommand).callsFake((input: { CommandId?: string }) => {
    if (!input.CommandId) return commandsSent(ssm);
    const step = progress[Math.min(listCalls, progress.length - 1)]!;
    listCalls += 1;
    return {
      Commands: [
        {
          CommandId: input.CommandId,
          Status: step.status,
          StatusDetails: step.status,
          TargetCount: step.targetCount,
          CompletedCount: step.completedCount ?? 0,
        },
      ],
    };
  });
  ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [...(scenario.invocations ?? [])] });
  // Hosts that recorded nothing of their own: the invocations' output says it all.
  ssm.on(ListComplianceItemsCommand).resolves({ ComplianceItems: [] });
  ssm
    .on(DescribeInstanceInformationCommand)
    .resolves({ InstanceInformationList: [...(scenario.instanceInformation ?? [])] });
  return ssm;
}

/**
 * State Manager's association calls on the SSM mock, with the shapes the API reference documents:
 * CreateAssociation answers an AssociationDescription with a generated AssociationId; ListAssociations
 * filters by AssociationName; DescribeAssociation answers what was created.
 */
function fakeStateManager(ssm: ReturnType<typeof fakeSsm>, byId: Map<string, CreateAssociationCommandInput>) {
  const created: CreateAssociationCommandInput[] = [];
  ssm.on(ListAssociationsCommand).callsFake((input: { AssociationFilterList?: { value: string }[] }) => ({
    Associations: [...byId.entries()]
      .filter(([, association]) => association.AssociationName === input.AssociationFilterList?.[0]?.value)
      .map(([id, association]) => ({ AssociationId: id, AssociationName: association.AssociationName })),
  }));
  ssm.on(CreateAssociationCommand).callsFake((input: CreateAssociationCommandInput) => {
    const id = `assoc-${String(byId.size + 1).padStart(4, '0')}`;
    created.push(input);
    byId.set(id, input);
    return { AssociationDescription: { ...input, AssociationId: id, AssociationVersion: '1' } };
  });
  ssm.on(DescribeAssociationCommand).callsFake((input: { AssociationId: string }) => {
    const association = byId.get(input.AssociationId);
    if (!association) throw Object.assign(new Error('not found'), { name: 'AssociationDoesNotExist' });
    return { AssociationDescription: { ...association, AssociationId: input.AssociationId } };
  });
  ssm.on(UpdateAssociationCommand).callsFake((input: { AssociationId: string }) => {
    byId.set(input.AssociationId, input as unknown as CreateAssociationCommandInput);
    return { AssociationDescription: input };
  });
  return { created };
}

/** SSM with real hosts behind it: SendCommand runs the document's script on each, with the secret. */
/** The instance id SSM knows the harness's host `index` by. */
export const hostInstanceId = (index: number) => `i-${String(index).padStart(17, '0')}`;

function agentsOn(
  hosts: readonly AgentHost[],
  secrets: Map<string, { value: string }>,
  instanceInformation?: readonly InstanceInformation[],
) {
  const ssm = mockClient(SSMClient);
  let invocations: CommandInvocation[] = [];
  ssm.on(SendCommandCommand).callsFake((input: SendCommandCommandInput) => {
    const parameters = input.Parameters ?? {};
    const secretIds = secretIdsOf(parameters);
    const named = (index: number) => !input.InstanceIds || input.InstanceIds.includes(hostInstanceId(index));
    invocations = hosts.flatMap((host, index) => {
      if (!named(index)) return [];
      for (const secretId of secretIds) {
        const secret = secrets.get(secretId);
        if (secret) host.serveSecret(secret.value);
        if (secret) host.serveSecretFor(secretId, secret.value);
      }
      const run = host.runAsAgent(parameters);
      const status = run.status === 0 ? 'Success' : 'Failed';
      const output = run.stderr ? `${run.stdout}\n----------ERROR-------\n${run.stderr}` : run.stdout;
      return [invocation(hostInstanceId(index), status, status, output)];
    });
    return { Command: { CommandId: 'cmd-0001', RequestedDateTime: new Date() } };
  });
  ssm.on(ListCommandsCommand).callsFake((input: { CommandId?: string }) => {
    if (!input.CommandId) return commandsSent(ssm);
    const failed = invocations.some((entry) => entry.Status !== 'Success');
    return {
      Commands: [
        {
          CommandId: input.CommandId,
          Status: failed ? 'Failed' : 'Success',
          StatusDetails: failed ? 'Failed' : 'Success',
          TargetCount: hosts.length,
          CompletedCount: hosts.length,
        },
      ],
    };
  });
  ssm.on(ListCommandInvocationsCommand).callsFake(() => ({ CommandInvocations: invocations }));
  ssm.on(ListComplianceItemsCommand).resolves({ ComplianceItems: [] });
  ssm.on(DescribeInstanceInformationCommand).resolves({
    InstanceInformationList: [
      ...(instanceInformation ??
        hosts.map((host, index) => ({
          InstanceId: hostInstanceId(index),
          PingStatus: 'Online' as const,
          PlatformType: host.platformType,
          PlatformName:
            host.platformType === 'Linux' ? 'Amazon Linux' : 'Microsoft Windows Server 2022 Datacenter',
          ...(host.platformType === 'Windows' ? { PlatformVersion: '10.0.20348' } : {}),
          AgentVersion: '3.3.3050.0',
        }))),
    ],
  });
  return ssm;
}

/** IAM as the dry run reads it: the hosts' role, with the tags and policies the scenario gives it. */
function fakeIam(role: WorkflowScenario['hostRole']) {
  const iam = mockClient(IAMClient);
  const roleName = FakeHost.ROLE_ARN.split('/')[1];
  const known = (input: { RoleName?: string }) => {
    if (!role || input.RoleName !== roleName) {
      throw Object.assign(new Error(`The role with name ${input.RoleName} cannot be found.`), {
        name: 'NoSuchEntityException',
      });
    }
    return role;
  };
  iam.on(ListRoleTagsCommand).callsFake((input: { RoleName?: string }) => ({
    Tags: Object.entries(known(input).tags).map(([Key, Value]) => ({ Key, Value })),
    IsTruncated: false,
  }));
  iam.on(ListAttachedRolePoliciesCommand).callsFake((input: { RoleName?: string }) => ({
    AttachedPolicies: known(input).policyArns.map((PolicyArn) => ({
      PolicyArn,
      PolicyName: PolicyArn.split('/').pop(),
    })),
    IsTruncated: false,
  }));
  return iam;
}

/** Collects everything written to the console and stdout/stderr while a run is under way. */
function captureOutput(lines: string[]): () => void {
  const originals = {
    log: console.log,
    info: console.info,
    warn: console.warn,
    error: console.error,
    debug: console.debug,
    stdout: process.stdout.write.bind(process.stdout),
    stderr: process.stderr.write.bind(process.stderr),
  };
  const keep = (...args: unknown[]) => {
    lines.push(args.map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' '));
  };
  console.log = console.info = console.warn = console.error = console.debug = keep;
  process.stdout.write = ((chunk: unknown) => (keep(String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: unknown) => (keep(String(chunk)), true)) as typeof process.stderr.write;
  return () => {
    Object.assign(console, {
      log: originals.log,
      info: originals.info,
      warn: originals.warn,
      error: originals.error,
      debug: originals.debug,
    });
    process.stdout.write = originals.stdout;
    process.stderr.write = originals.stderr;
  };
}
