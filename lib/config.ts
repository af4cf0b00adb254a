import type { Node } from 'constructs';
import { fieldProblem } from '../lambda/shared/export-request.js';
import { DEFAULT_PROFILE, PROFILE_RULE } from '../lambda/shared/export-request.js';
import {
  DEFAULT_HOST_INSTALL,
  type HostInstallSettings,
  INSTALL_PARAMETER_RULES,
  type InstallParameterName,
  HOST_SETTING_PARAMETERS,
  type InstallProfiles,
  meetsInstallRule,
  trustStoreDirectoryOf,
} from '../lambda/shared/install-parameters.js';

/** What a deployment can be told, through `cdk.json` or `-c key=value`. */
export interface AppConfig {
  /** Name of the CloudFormation stack. */
  readonly stackName: string;
  /** Name of the DynamoDB inventory table; empty for one CloudFormation makes from the stack's name. */
  readonly tableName: string;
  /** Addresses subscribed to the alert topic (each confirms by email). */
  readonly alertEmails: readonly string[];
  /** Name the install document is deployed under; empty for `<stack name>-Install-ACMCertificate`. */
  readonly installDocumentName: string;
  /** SSM MaxConcurrency for install commands: a count or a percentage of the targets. */
  readonly installMaxConcurrency: string;
  /** SSM MaxErrors for install commands. */
  readonly installMaxErrors: string;
  /** SSM TimeoutSeconds: how long a command may wait to be delivered to an instance. */
  readonly installDeliveryTimeoutSeconds: number;
  /** How long the workflow follows an install command before it reports it as timed out. */
  readonly installMaxWaitSeconds: number;
  /** Where hosts put the certificate, chain and full chain. */
  readonly installCertDirectory: string;
  /** Where hosts put the decrypted private key. */
  readonly installKeyDirectory: string;
  readonly installFileOwner: string;
  readonly installFileGroup: string;
  /** Run on the host after a good install (plain words, no shell); empty for none. */
  readonly installReloadCommand: string;
  /** What hosts install besides the certificate: `pem`, `combined`, `pkcs12`, comma-separated. */
  readonly installFormats: string;
  /** `aes-256`, or `legacy-3des` for JVMs older than 8u301 / 11.0.12. */
  readonly installPkcs12Encryption: string;
  /** `host:port` whose served certificate must be the installed one after the reload; empty for none. */
  readonly installVerifyEndpoint: string;
  /** The SNI name for that check; empty for none. */
  readonly installVerifyServerName: string;
  /** Seconds to keep asking the endpoint for the new certificate after the reload (0-300). */
  readonly installVerifySeconds: string;
  /**
   * More install profiles, by name, for other kinds of hosts; each field left out takes the product
   * default. The `install*` keys above are the profile named `default`.
   */
  readonly installProfiles: Readonly<Record<string, Partial<HostInstallSettings>>>;
  /** Tag keys the instance access policy compares between a secret and the caller's role. */
  readonly instanceTagKeys: readonly string[];
  /** Certificates expiring within this many days (or expired) get findings and alerts. */
  readonly expiryThresholdDays: number;
  /** When the expiry scan runs: an EventBridge schedule expression. */
  readonly expiryScanSchedule: string;
  /** The Region Security Hub findings go to; empty for the stack's own Region. */
  readonly securityHubRegion: string;
  /** Private CAs to audit; empty for every ACTIVE CA of the account and Region. */
  readonly privateCaArns: readonly string[];
  /** When audit reports are requested: an EventBridge schedule expression. */
  readonly auditSchedule: string;
  readonly auditReportFormat: 'JSON' | 'CSV';
  /** Private CA certificates expiring within this many days are reported. */
  readonly auditThresholdDays: number;
  /** Also report certificates ACM requested and renews itself. */
  readonly auditIncludeAcmManaged: boolean;
  /** Audit reports are deleted after this many days. */
  readonly auditReportRetentionDays: number;
  /** When every mapped host is asked which certificate it holds. */
  readonly driftCheckSchedule: string;
  /** Also start renewals from AWS Health's ACM renewal notices, deduplicated with ACM's own event. */
  readonly renewOnHealthEvents: boolean;
  /**
   * Renewal executions started per second at most, however many mappings a certificate has. The
   * certificate is exported once per renewal; each execution writes its mapping's secret once, and
   * Secrets Manager allows 50 PutSecretValue calls a second per account and Region.
   */
  readonly renewalStartsPerSecond: number;
  /** Retention of the app's log groups, in days. */
  readonly logRetentionDays: number;
  /** Export requests the API accepts per second, on average (the stage's throttling rate). */
  readonly apiThrottleRatePerSecond: number;
  /** Export requests the API accepts at once before the rate applies (the stage's burst). */
  readonly apiThrottleBurst: number;
  /**
   * Set the account's API Gateway CloudWatch logging role (for every API in the Region) to one this stack
   * creates. Only for accounts that have none yet.
   */
  readonly apiGatewayAccountLoggingRole: boolean;
  /** When each mapping's association re-applies the install document: a State Manager schedule. */
  readonly convergenceSchedule: string;
  /** SSM MaxConcurrency for the associations' runs. */
  readonly convergenceMaxConcurrency: string;
  /** SSM MaxErrors for the associations' runs. */
  readonly convergenceMaxErrors: string;
  /** What a node that has not converged counts as in Systems Manager compliance. */
  readonly convergenceComplianceSeverity: 'CRITICAL' | 'HIGH' | 'MEDIUM' | 'LOW' | 'UNSPECIFIED';
  /** Days an unmapped mapping's secret can still be restored before Secrets Manager deletes it. */
  readonly unmapRecoveryWindowDays: number;
  /**
   * The AWS Organizations organization (`o-…`) whose workload accounts get the member stack; empty for
   * none (no `<stackName>-Member` template is synthesized).
   */
  readonly organizationId: string;
  /** The central account the member stack trusts; empty for the account synth runs with. */
  readonly centralAccount: string;
  /** The central Region the member stack reports to; empty for the Region synth runs with. */
  readonly centralRegion: string;
  /**
   * The accounts a mapping may name as its TargetAccount; empty, with organizationId set, for any
   * account of the organization (the member role trusts no other). Needs organizationId.
   */
  readonly targetAccounts: readonly string[];
  /** The Regions a mapping may name as its TargetRegion besides this deployment's own. */
  readonly targetRegions: readonly string[];
  /**
   * The member stack forwards its account's ACM expiry and renewal events, and the central deployment
   * reports them as its own (finding and alert naming the member's certificate).
   */
  readonly memberCertificateAlerts: boolean;
}

export const DEFAULT_CONFIG: AppConfig = {
  stackName: 'CertLifecycle',
  tableName: '',
  alertEmails: [],
  installDocumentName: '',
  installMaxConcurrency: '25%',
  installMaxErrors: '0',
  installDeliveryTimeoutSeconds: 600,
  installMaxWaitSeconds: 900,
  installCertDirectory: DEFAULT_HOST_INSTALL.certDirectory,
  installKeyDirectory: DEFAULT_HOST_INSTALL.keyDirectory,
  installFileOwner: DEFAULT_HOST_INSTALL.fileOwner,
  installFileGroup: DEFAULT_HOST_INSTALL.fileGroup,
  installReloadCommand: DEFAULT_HOST_INSTALL.reloadCommand,
  installFormats: DEFAULT_HOST_INSTALL.formats,
  installPkcs12Encryption: DEFAULT_HOST_INSTALL.pkcs12Encryption,
  installVerifyEndpoint: DEFAULT_HOST_INSTALL.verifyEndpoint,
  installVerifyServerName: DEFAULT_HOST_INSTALL.verifyServerName,
  installVerifySeconds: DEFAULT_HOST_INSTALL.verifySeconds,
  installProfiles: {},
  instanceTagKeys: ['env'],
  expiryThresholdDays: 45,
  expiryScanSchedule: 'rate(1 day)',
  securityHubRegion: '',
  organizationId: '',
  centralAccount: '',
  centralRegion: '',
  targetAccounts: [],
  targetRegions: [],
  memberCertificateAlerts: true,
  privateCaArns: [],
  auditSchedule: 'rate(1 day)',
  auditReportFormat: 'JSON',
  auditThresholdDays: 30,
  auditIncludeAcmManaged: false,
  auditReportRetentionDays: 90,
  driftCheckSchedule: 'rate(1 day)',
  renewOnHealthEvents: false,
  renewalStartsPerSecond: 25,
  logRetentionDays: 365,
  // Below ACM's ExportCertificate quota (5 requests per second by default), which renewals share.
  apiThrottleRatePerSecond: 2,
  apiThrottleBurst: 4,
  apiGatewayAccountLoggingRole: false,
  convergenceSchedule: 'rate(1 day)',
  convergenceMaxConcurrency: '10%',
  convergenceMaxErrors: '10%',
  convergenceComplianceSeverity: 'HIGH',
  unmapRecoveryWindowDays: 30,
};

/** CloudWatch Logs accepts only these retention periods. */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration (cdk.json context or -c values):\n  - ${problems.join('\n  - ')}`);
  }
}

type Reader = (raw: unknown, problems: string[], key: string) => unknown;

const text =
  (pattern: RegExp, hint: string): Reader =>
  (raw, problems, key) => {
    const value = typeof raw === 'number' ? String(raw) : raw;
    if (typeof value !== 'string' || !pattern.test(value)) {
      problems.push(`${key} must be ${hint}; got ${JSON.stringify(raw)}`);
    }
    return value;
  };

const integer =
  (min: number, max: number, allowed?: readonly number[]): Reader =>
  (raw, problems, key) => {
    const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      problems.push(`${key} must be a whole number from ${min} to ${max}; got ${JSON.stringify(raw)}`);
    } else if (allowed && !allowed.includes(value)) {
      problems.push(`${key} must be one of ${allowed.join(', ')}; got ${value}`);
    }
    return value;
  };

/**
 * A setting the install document receives: held to that parameter's own rule (formats may be given as a
 * list). An endpoint's port must be a real one.
 */
const installParameter =
  (name: InstallParameterName): Reader =>
  (raw, problems, key) => {
    const value =
      name === 'Formats' && Array.isArray(raw)
        ? raw.join(',')
        : name === 'VerifySeconds' && typeof raw === 'number'
          ? String(raw)
          : raw;
    if (typeof value !== 'string' || !meetsInstallRule(name, value)) {
      problems.push(
        `${key} is not valid: ${INSTALL_PARAMETER_RULES[name].description} Got ${JSON.stringify(raw)}`,
      );
    } else if ((name === 'CertDirectory' || name === 'KeyDirectory') && trustStoreDirectoryOf(value)) {
      problems.push(
        `${key} is in ${trustStoreDirectoryOf(value)}, where hosts' trust-store tooling looks for CA certificates (update-ca-certificates, update-ca-trust, openssl rehash): a chain installed there would become trusted by every program on the host. Use a directory of its own, such as ${DEFAULT_HOST_INSTALL.certDirectory}. Got ${JSON.stringify(raw)}`,
      );
    } else if (name === 'VerifyEndpoint' && value !== '') {
      const port = Number(value.slice(value.lastIndexOf(':') + 1));
      if (port < 1 || port > 65_535)
        problems.push(`${key} has no valid port (1-65535): ${JSON.stringify(value)}`);
    }
    return value;
  };

/** What is wrong with one profile's settings taken together. */
function profileProblems(settings: HostInstallSettings, name: string): string[] {
  return settings.verifyServerName && !settings.verifyEndpoint
    ? [`${name} names a verifyServerName but no verifyEndpoint to ask it of`]
    : [];
}

/** A list given as a JSON list in cdk.json or as one comma-separated string with -c. */
function listOf(raw: unknown): unknown[] | undefined {
  if (Array.isArray(raw)) return raw;
  if (typeof raw === 'string') {
    return raw
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== '');
  }
  return undefined;
}

/**
 * The profiles travel to the functions as one environment variable, and Lambda allows 4 KB for all of a
 * function's variables together: about ten profiles.
 */
const LONGEST_PROFILES_JSON = 3_000;

const profiles: Reader = (raw, problems, key) => {
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      problems.push(`${key} must be a JSON object of profiles; got ${JSON.stringify(raw)}`);
      return {};
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push(`${key} must be an object of profiles by name; got ${JSON.stringify(raw)}`);
    return {};
  }
  const read: Record<string, Record<string, unknown>> = {};
  for (const [name, profile] of Object.entries(value)) {
    if (name === DEFAULT_PROFILE) {
      problems.push(`${key} may not define "${DEFAULT_PROFILE}": that profile is the install* keys`);
    } else if (!new RegExp(PROFILE_RULE.pattern).test(name)) {
      problems.push(
        `${key} has a profile name that is not valid (${PROFILE_RULE.description}): ${JSON.stringify(name)}`,
      );
    }
    if (typeof profile !== 'object' || profile === null || Array.isArray(profile)) {
      problems.push(`${key}.${name} must be an object of settings; got ${JSON.stringify(profile)}`);
      continue;
    }
    read[name] = profileSettingsOf(profile as Record<string, unknown>, problems, `${key}.${name}`);
  }
  return read;
};

/** One profile's settings, each held to the rule of the install parameter that carries it. */
function profileSettingsOf(
  profile: Record<string, unknown>,
  problems: string[],
  key: string,
): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  for (const [setting, raw] of Object.entries(profile)) {
    if (Object.hasOwn(HOST_SETTING_PARAMETERS, setting)) {
      const parameter = HOST_SETTING_PARAMETERS[setting as keyof HostInstallSettings];
      settings[setting] = installParameter(parameter)(raw, problems, `${key}.${setting}`);
    } else {
      problems.push(
        `${key} has an unknown setting "${setting}"${didYouMean(setting, Object.keys(HOST_SETTING_PARAMETERS))} (known: ${Object.keys(HOST_SETTING_PARAMETERS).join(', ')})`,
      );
    }
  }
  problems.push(...profileProblems({ ...DEFAULT_HOST_INSTALL, ...settings } as HostInstallSettings, key));
  return settings;
}

/** Every install profile of the deployment: `default` from the install* keys, then `installProfiles`. */
export function installProfilesOf(config: AppConfig): InstallProfiles {
  return {
    [DEFAULT_PROFILE]: {
      ...DEFAULT_HOST_INSTALL,
      certDirectory: config.installCertDirectory,
      keyDirectory: config.installKeyDirectory,
      fileOwner: config.installFileOwner,
      fileGroup: config.installFileGroup,
      reloadCommand: config.installReloadCommand,
      formats: config.installFormats,
      pkcs12Encryption: config.installPkcs12Encryption,
      verifyEndpoint: config.installVerifyEndpoint,
      verifyServerName: config.installVerifyServerName,
      verifySeconds: config.installVerifySeconds,
    },
    ...Object.fromEntries(
      Object.entries(config.installProfiles).map(([name, profile]) => [
        name,
        { ...DEFAULT_HOST_INSTALL, ...profile },
      ]),
    ),
  };
}

/** A list of values each matching `pattern` (possibly empty). */
const listMatching =
  (pattern: RegExp, what: string): Reader =>
  (raw, problems, key) => {
    const list = listOf(raw);
    if (!list) {
      problems.push(
        `${key} must be a list of ${what} (or one comma-separated string); got ${JSON.stringify(raw)}`,
      );
      return [];
    }
    for (const entry of list) {
      if (typeof entry !== 'string' || !pattern.test(entry))
        problems.push(`${key} has an entry that is not one of ${what}: ${JSON.stringify(entry)}`);
    }
    return [...new Set(list)];
  };

const tagKeys: Reader = (raw, problems, key) => {
  const list = listOf(raw);
  if (!list || list.length === 0) {
    problems.push(`${key} must name at least one tag key; got ${JSON.stringify(raw)}`);
    return [];
  }
  for (const entry of list) {
    const problem = fieldProblem('TargetTagKey', entry);
    if (problem) problems.push(`${key} has a tag key that ${problem}: ${JSON.stringify(entry)}`);
  }
  return list;
};

const flag: Reader = (raw, problems, key) => {
  if (raw === true || raw === 'true') return true;
  if (raw === false || raw === 'false') return false;
  problems.push(`${key} must be true or false; got ${JSON.stringify(raw)}`);
  return false;
};

const schedule = text(
  /^(rate\((1 (minute|hour|day)|[1-9][0-9]* (minutes|hours|days))\)|cron\([^()]+\))$/,
  'an EventBridge schedule like "rate(1 day)" or "cron(0 6 * * ? *)"',
);

/** State Manager's schedules: a rate of 30 minutes or more (no single "minute"), or a cron expression. */
const associationSchedule = text(
  /^(rate\(([3-9][0-9]|[1-9][0-9]{2,}) minutes\)|rate\((1 (hour|day)|[1-9][0-9]* (hours|days))\)|cron\([^()]+\))$/,
  'a State Manager schedule like "rate(1 day)", "rate(12 hours)", "rate(30 minutes)" or "cron(0 2 ? * * *)"',
);

const rateControl = {
  concurrency: text(
    /^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$/,
    'a count like "10" or a percentage like "25%"',
  ),
  errors: text(/^([1-9][0-9]*|[0]|[1-9][0-9]%|[0-9]%|100%)$/, 'a count like "0" or a percentage like "10%"'),
};

const CA_ARN = /^arn:aws[a-z-]*:acm-pca:[a-z0-9-]+:\d{12}:certificate-authority\/[0-9a-f-]{36}$/;

const caArns: Reader = (raw, problems, key) => {
  const list = listOf(raw);
  if (!list) {
    problems.push(
      `${key} must be a list of Private CA ARNs (or one comma-separated string); got ${JSON.stringify(raw)}`,
    );
    return [];
  }
  for (const entry of list) {
    if (typeof entry !== 'string' || !CA_ARN.test(entry))
      problems.push(`${key} has an entry that is not a Private CA ARN: ${JSON.stringify(entry)}`);
  }
  return list;
};

const EMAIL = /^[^\s@,;]+@[^\s@,;]+\.[^\s@,;]+$/;

const emails: Reader = (raw, problems, key) => {
  const list = listOf(raw);
  if (!list) {
    problems.push(
      `${key} must be a list of email addresses (or one comma-separated string); got ${JSON.stringify(raw)}`,
    );
    return [];
  }
  for (const entry of list) {
    if (typeof entry !== 'string' || !EMAIL.test(entry)) {
      problems.push(`${key} has an entry that is not an email address: ${JSON.stringify(entry)}`);
    }
  }
  return list;
};

const READERS: Record<keyof AppConfig, Reader> = {
  stackName: text(
    /^[A-Za-z][A-Za-z0-9-]{0,127}$/,
    'a CloudFormation stack name: a letter, then up to 127 letters, digits or "-"',
  ),
  tableName: text(/^([A-Za-z0-9_.-]{3,255})?$/, 'empty, or 3–255 letters, digits, "_", "-" or "."'),
  alertEmails: emails,
  installDocumentName: text(
    /^((?!(aws|amazon))[A-Za-z0-9_.-]{3,128})?$/i,
    'empty, or 3–128 letters, digits, "_", "-" or ".", not starting with "AWS" or "Amazon"',
  ),
  installMaxConcurrency: rateControl.concurrency,
  installMaxErrors: rateControl.errors,
  installDeliveryTimeoutSeconds: integer(30, 2_592_000),
  installMaxWaitSeconds: integer(60, 86_400),
  installCertDirectory: installParameter('CertDirectory'),
  installKeyDirectory: installParameter('KeyDirectory'),
  installFileOwner: installParameter('FileOwner'),
  installFileGroup: installParameter('FileGroup'),
  installReloadCommand: installParameter('ReloadCommand'),
  installFormats: installParameter('Formats'),
  installPkcs12Encryption: installParameter('Pkcs12Encryption'),
  installVerifyEndpoint: installParameter('VerifyEndpoint'),
  installVerifyServerName: installParameter('VerifyServerName'),
  installVerifySeconds: installParameter('VerifySeconds'),
  installProfiles: profiles,
  instanceTagKeys: tagKeys,
  expiryThresholdDays: integer(1, 397),
  expiryScanSchedule: schedule,
  organizationId: text(/^(o-[a-z0-9]{10,32})?$/, 'empty, or an organization id like "o-a1b2c3d4e5"'),
  centralAccount: text(/^([0-9]{12})?$/, 'empty, or a 12-digit account id'),
  centralRegion: text(/^([a-z]{2}(-[a-z]+)+-[0-9]+)?$/, 'empty, or a Region name like "eu-west-1"'),
  targetAccounts: listMatching(/^[0-9]{12}$/, '12-digit account ids'),
  targetRegions: listMatching(/^[a-z]{2}(-[a-z]+)+-[0-9]+$/, 'Region names like "eu-west-1"'),
  memberCertificateAlerts: flag,
  securityHubRegion: text(
    /^([a-z]{2}(-[a-z]+)+-[0-9]+)?$/,
    'a Region name like "eu-west-1", or empty for the stack Region',
  ),
  privateCaArns: caArns,
  auditSchedule: schedule,
  auditReportFormat: text(/^(JSON|CSV)$/, 'JSON or CSV'),
  auditThresholdDays: integer(1, 3650),
  auditIncludeAcmManaged: flag,
  auditReportRetentionDays: integer(1, 3650),
  driftCheckSchedule: schedule,
  renewOnHealthEvents: flag,
  renewalStartsPerSecond: integer(1, 50),
  logRetentionDays: integer(1, 3653, LOG_RETENTION_DAYS),
  apiThrottleRatePerSecond: integer(1, 10_000),
  apiThrottleBurst: integer(1, 5_000),
  apiGatewayAccountLoggingRole: flag,
  convergenceSchedule: associationSchedule,
  convergenceMaxConcurrency: rateControl.concurrency,
  convergenceMaxErrors: rateControl.errors,
  convergenceComplianceSeverity: text(
    /^(CRITICAL|HIGH|MEDIUM|LOW|UNSPECIFIED)$/,
    'CRITICAL, HIGH, MEDIUM, LOW or UNSPECIFIED',
  ),
  unmapRecoveryWindowDays: integer(7, 30),
};

/**
 * Context keys that belong to the CDK, not to this app: feature flags (`@aws-cdk/…`), its own settings
 * (`aws:cdk:…`), context-provider lookups (`availability-zones:account=…`) and two CLI settings.
 */
function isCdkKey(key: string): boolean {
  return (
    key.startsWith('@') ||
    key.includes(':') ||
    key === 'cli-telemetry' ||
    key === 'acknowledged-issue-numbers'
  );
}

/** The known name `name` was most likely meant as: the same but for case, or a few letters away. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const distance = (a: string, b: string) => {
    let row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const next = [i];
      for (let j = 1; j <= b.length; j++)
        next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      row = next;
    }
    return row[b.length]!;
  };
  const scored = known.map((candidate) => ({
    candidate,
    score: distance(name.toLowerCase(), candidate.toLowerCase()),
  }));
  const best = scored.sort((a, b) => a.score - b.score)[0];
  return best && best.score <= Math.max(2, Math.floor(name.length / 4)) ? best.candidate : undefined;
}

const didYouMean = (name: string, known: readonly string[]) => {
  const near = closestName(name, known);
  return near ? ` (did you mean ${near}?)` : '';
};

/** Reads every setting from context, falls back to the defaults, and reports all bad values at once. */
export function loadConfig(node: Node): AppConfig {
  const context = node.getAllContext() as Record<string, unknown>;
  const values = Object.fromEntries(
    Object.entries(context).filter(([key]) => !isCdkKey(key) || Object.hasOwn(READERS, key)),
  );
  return checkedConfig(values, 'context key', "(the README's Deploy section lists the keys)");
}

/**
 * The settings given in code (a consumer's props), checked by the same rules as context values: every
 * one left out takes its default, and every problem is reported at once.
 */
export function resolveConfig(settings: Readonly<Partial<Record<keyof AppConfig, unknown>>> = {}): AppConfig {
  return checkedConfig(settings as Record<string, unknown>, 'setting', '(AppConfig lists them)');
}

function checkedConfig(values: Record<string, unknown>, what: string, where: string): AppConfig {
  const problems: string[] = [];
  for (const key of Object.keys(values)) {
    if (!Object.hasOwn(READERS, key)) {
      problems.push(
        `unknown ${what} ${key}${didYouMean(key, Object.keys(READERS))}: nothing reads it ${where}`,
      );
    }
  }
  const config: Record<string, unknown> = {};
  for (const key of Object.keys(READERS) as (keyof AppConfig)[]) {
    const raw = values[key];
    config[key] = raw === undefined ? DEFAULT_CONFIG[key] : READERS[key](raw, problems, key);
  }
  if (config.organizationId && config.installDocumentName) {
    problems.push(
      "installDocumentName cannot be set with organizationId: member accounts' documents carry the central stack's names (<stackName>-Install-ACMCertificate)",
    );
  }
  if (!config.organizationId) {
    // A setting other than its default that nothing would read (the flag's default is no choice).
    for (const key of ['centralAccount', 'centralRegion', 'memberCertificateAlerts'] as const) {
      if (config[key] !== DEFAULT_CONFIG[key]) {
        problems.push(`${key} applies only to the member stack: set organizationId too, or leave ${key} out`);
      }
    }
    for (const key of ['targetAccounts', 'targetRegions'] as const) {
      if ((config[key] as string[]).length > 0) {
        problems.push(
          `${key} needs organizationId: hosts in other accounts and Regions are reached through the member stack, which trusts the organization`,
        );
      }
    }
  }
  if (problems.length === 0) {
    const all = installProfilesOf(config as unknown as AppConfig);
    problems.push(...profileProblems(all[DEFAULT_PROFILE]!, 'the install* keys'));
    if (JSON.stringify(all).length > LONGEST_PROFILES_JSON) {
      problems.push(
        `installProfiles: all profiles together, defaults filled in, must stay within ${LONGEST_PROFILES_JSON} characters of JSON (they travel in one Lambda environment variable)`,
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config as unknown as AppConfig;
}
