import { SECRET_PREFIX } from './certificate-secret.js';
import { UnknownProfileError } from './errors.js';
import { DEFAULT_PROFILE, EXPORT_REQUEST_FIELDS } from './export-request.js';

/**
 * The install document's parameters and the rule each must meet. The document's `allowedPattern`s, the
 * checks its script repeats, the deployment's configuration and the workflow all follow these (tests hold
 * the YAML to them). None of them ever carries key material: the host reads that from the secret.
 */
export interface InstallParameterRule {
  readonly pattern: string;
  readonly maxChars: number;
  readonly description: string;
}

/** An absolute path whose segments never start with a dot (so no `.` or `..`), no spaces or quotes. */
const DIRECTORY = '^(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+$';
/** A POSIX user or group name. */
const ACCOUNT_NAME = '^[a-z_][a-z0-9_-]*$';

/** An IIS site binding: `<site>:<port>:<host name>` (the host name empty for a binding without one, `*.` for a wildcard). */
const IIS_BINDING = '[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}:[0-9]{1,5}:[A-Za-z0-9.*-]{0,253}';
/** An HTTP.sys certificate binding as netsh names it: `ipport=<IPv4 or [IPv6]>:<port>` or `hostnameport=<name>:<port>`. */
const HTTP_SYS_BINDING =
  '(ipport=([0-9]{1,3}(\\.[0-9]{1,3}){3}|\\[[0-9A-Fa-f:]+\\])|hostnameport=[A-Za-z0-9.-]{1,253}):[0-9]{1,5}';
/** A Windows account: `<domain or authority>\\<name>` (an IIS application pool, `NT SERVICE\\<service>`, a gMSA ending in `$`). */
const WINDOWS_ACCOUNT = '[A-Za-z0-9][A-Za-z0-9 ._-]{0,31}\\\\[A-Za-z0-9][A-Za-z0-9 ._$-]{0,63}';
/**
 * How many bindings (of each kind) and key readers one profile may name, and their lengths: the install
 * document and the parameters a command sends stay inside SSM's 64 KB.
 */
export const MAX_WINDOWS_BINDINGS = 5;
export const MAX_KEY_READERS = 5;

/** A mapping's secret: `acm-passphrase/<CertName>/<mapping id>`. */
const SECRET_ID = `${SECRET_PREFIX}[A-Za-z0-9]+([._-][A-Za-z0-9]+)*/[0-9a-f]{16}`;
const SECRET_ID_LENGTH = 100;
/**
 * How many certificates one target's association may carry: its Certificates parameter, with the
 * embedded script, stays inside SSM's 64 KB document quota (which counts the parameters sent).
 */
export const MAX_CERTIFICATES_PER_TARGET = 100;

export const INSTALL_PARAMETER_RULES = {
  Certificates: {
    pattern: `^(${SECRET_ID}( ${SECRET_ID}){0,${MAX_CERTIFICATES_PER_TARGET - 1}})?$`,
    maxChars: MAX_CERTIFICATES_PER_TARGET * (SECRET_ID_LENGTH + 1) - 1,
    description:
      'The secrets of every certificate to install, space-separated (a target association lists all of its own): each is installed on its own, one failing stops no other. Empty when CertName and SecretId name one.',
  },
  CertName: {
    // Optional in the install document, where Certificates may list the certificates instead.
    pattern: `^(${EXPORT_REQUEST_FIELDS.CertName.pattern.slice(1, -1)})?$`,
    maxChars: EXPORT_REQUEST_FIELDS.CertName.maxLength,
    description:
      'File name stem: the files are <CertName>-cert.pem, -chain.pem, -fullchain.pem and -privkey.pem.',
  },
  SecretId: {
    pattern: `^(${SECRET_ID})?$`,
    maxChars: SECRET_ID_LENGTH,
    description:
      'Name of the secret that holds the exported certificate bundle (with CertName, instead of Certificates).',
  },
  Region: {
    pattern: '^[a-z]{2}(-[a-z]+)+-[0-9]+$',
    maxChars: 32,
    description: 'Region of the secret.',
  },
  CertDirectory: {
    pattern: DIRECTORY,
    maxChars: 200,
    description: 'Directory for the certificate, chain and full chain (0644).',
  },
  KeyDirectory: {
    pattern: DIRECTORY,
    maxChars: 200,
    description: 'Directory for the decrypted private key (0600).',
  },
  FileOwner: { pattern: ACCOUNT_NAME, maxChars: 32, description: 'Owner of the installed files.' },
  FileGroup: { pattern: ACCOUNT_NAME, maxChars: 32, description: 'Group of the installed files.' },
  ReloadCommand: {
    pattern: '^([A-Za-z0-9_./:@=+-]+( [A-Za-z0-9_./:@=+-]+)*)?$',
    maxChars: 256,
    description:
      'Run after a good install, as plain words without a shell (no quotes, pipes, ; or $): e.g. "systemctl reload nginx". If it fails, the previous files are put back. Empty for none.',
  },
  Formats: {
    pattern: '^(pem|combined|pkcs12)(,(pem|combined|pkcs12)){0,2}$',
    maxChars: 32,
    description:
      'What to install besides <CertName>-cert.pem, comma-separated: pem (chain, full chain and key), combined (key, certificate and chain in one file), pkcs12 (a keystore and its password file).',
  },
  Pkcs12Encryption: {
    pattern: '^(aes-256|legacy-3des)$',
    maxChars: 11,
    description:
      'How the keystore is protected: aes-256 (PBES2, SHA-256 MAC), or legacy-3des (3DES, SHA-1 MAC) for JVMs older than 8u301 or 11.0.12.',
  },
  VerifyEndpoint: {
    pattern: '^(([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\\[[0-9A-Fa-f:.]+\\]):[0-9]{1,5})?$',
    maxChars: 262,
    description:
      'host:port the service serves TLS on (e.g. 127.0.0.1:443); after the reload the served certificate must be the installed one, or the previous files go back. Empty for no check.',
  },
  VerifySeconds: {
    pattern: '^([0-9]|[1-9][0-9]|[12][0-9][0-9]|300)$',
    maxChars: 3,
    description:
      'How long to keep asking the endpoint for the new certificate after the reload (0-300 s), for services that take a while to start serving it.',
  },
  VerifyServerName: {
    pattern: '^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)?$',
    maxChars: 253,
    description: 'The SNI name to ask the endpoint for, when it serves several. Empty for none.',
  },
  IisBindings: {
    pattern: `^(${IIS_BINDING}(;${IIS_BINDING}){0,${MAX_WINDOWS_BINDINGS - 1}})?$`,
    maxChars: 400,
    description:
      'Windows: the IIS https bindings to move to the certificate, ;-separated, each <site>:<port>:<host name> (host name empty for none). Empty for none.',
  },
  HttpSysBindings: {
    pattern: `^(${HTTP_SYS_BINDING}( ${HTTP_SYS_BINDING}){0,${MAX_WINDOWS_BINDINGS - 1}})?$`,
    maxChars: 300,
    description:
      'Windows: the HTTP.sys certificate bindings to move to the certificate, space-separated, each ipport=<address>:<port> or hostnameport=<name>:<port>. Empty for none.',
  },
  KeyReaders: {
    pattern: `^(${WINDOWS_ACCOUNT}(;${WINDOWS_ACCOUNT}){0,${MAX_KEY_READERS - 1}})?$`,
    maxChars: 200,
    description:
      'Windows: accounts given read on the private key, ;-separated (e.g. IIS AppPool\\DefaultAppPool). Empty for none.',
  },
  KeyExportable: {
    pattern: '^(true|false)$',
    maxChars: 5,
    description: 'Windows: true to import the private key as exportable from the store.',
  },
} as const satisfies Record<string, InstallParameterRule>;

/** The parameters only the Windows step reads (the Linux script never sees a use for them). */
export const WINDOWS_PARAMETERS: readonly string[] = [
  'IisBindings',
  'HttpSysBindings',
  'KeyReaders',
  'KeyExportable',
];

export type InstallParameterName = keyof typeof INSTALL_PARAMETER_RULES;

/** Where and how a host installs the files, from the deployment's configuration. */
export interface HostInstallSettings {
  readonly certDirectory: string;
  readonly keyDirectory: string;
  readonly fileOwner: string;
  readonly fileGroup: string;
  /** Empty for none. */
  readonly reloadCommand: string;
  /** Comma-separated: `pem`, `combined`, `pkcs12`. */
  readonly formats: string;
  /** `aes-256` or `legacy-3des`. */
  readonly pkcs12Encryption: string;
  /** `host:port` whose served certificate must be the installed one; empty for no check. */
  readonly verifyEndpoint: string;
  /** SNI name for that check; empty for none. */
  readonly verifyServerName: string;
  /** Seconds to keep asking the endpoint after the reload (0-300), as text. */
  readonly verifySeconds: string;
  /** Windows: IIS bindings `<site>:<port>:<host name>`, `;`-separated; empty for none. */
  readonly iisBindings: string;
  /** Windows: HTTP.sys bindings `ipport=…` / `hostnameport=…`, space-separated; empty for none. */
  readonly httpSysBindings: string;
  /** Windows: accounts given read on the key, `;`-separated; empty for none. */
  readonly keyReaders: string;
  /** Windows: `true` to import the key as exportable. */
  readonly keyExportable: string;
}

/**
 * Where the hosts' trust-store tooling reads or rehashes CA certificates: OpenSSL's CA directory
 * (`/etc/ssl/certs` on Debian, Ubuntu and SUSE, which `update-ca-certificates` rehashes;
 * `/etc/pki/tls/certs` on Red Hat systems), the anchor and bundle directories of each family, and
 * SUSE's generated store. A chain installed in or below one of them could become a trust anchor for
 * every program on the host, so neither a profile (at synth) nor the install script (on the host, which
 * also asks its own OpenSSL for its CA directory) puts files there. The script holds the same list.
 */
export const TRUST_STORE_DIRECTORIES = [
  '/etc/ssl/certs',
  '/etc/pki/tls/certs',
  '/etc/pki/ca-trust',
  '/usr/share/pki/ca-trust-source',
  '/usr/local/share/ca-certificates',
  '/usr/share/ca-certificates',
  '/etc/ca-certificates',
  '/etc/pki/trust',
  '/usr/share/pki/trust',
  '/var/lib/ca-certificates',
] as const;

/** The trust-store directory `directory` is in (or is), if any. */
export function trustStoreDirectoryOf(directory: string): string | undefined {
  return TRUST_STORE_DIRECTORIES.find(
    (trusted) => directory === trusted || directory.startsWith(`${trusted}/`),
  );
}

/**
 * The product's own directories by default: no trust-store tool reads them, nothing else writes there,
 * and they are the same on every distribution (Red Hat systems have no /etc/ssl/private).
 */
export const DEFAULT_HOST_INSTALL: HostInstallSettings = {
  certDirectory: '/etc/cert-lifecycle/certs',
  keyDirectory: '/etc/cert-lifecycle/private',
  fileOwner: 'root',
  fileGroup: 'root',
  reloadCommand: '',
  formats: 'pem',
  pkcs12Encryption: 'aes-256',
  verifyEndpoint: '',
  verifyServerName: '',
  verifySeconds: '10',
  iisBindings: '',
  httpSysBindings: '',
  keyReaders: '',
  keyExportable: 'false',
};

/** Each host setting and the install parameter that carries it to the host. */
export const HOST_SETTING_PARAMETERS = {
  certDirectory: 'CertDirectory',
  keyDirectory: 'KeyDirectory',
  fileOwner: 'FileOwner',
  fileGroup: 'FileGroup',
  reloadCommand: 'ReloadCommand',
  formats: 'Formats',
  pkcs12Encryption: 'Pkcs12Encryption',
  verifyEndpoint: 'VerifyEndpoint',
  verifyServerName: 'VerifyServerName',
  verifySeconds: 'VerifySeconds',
  iisBindings: 'IisBindings',
  httpSysBindings: 'HttpSysBindings',
  keyReaders: 'KeyReaders',
  keyExportable: 'KeyExportable',
} as const satisfies Record<keyof HostInstallSettings, InstallParameterName>;

/**
 * The install document parameters for a host's settings. A setting left empty (no reload command, no
 * endpoint) is not sent, so the document's default (none) applies.
 */
export function hostParameters(host: HostInstallSettings): Partial<Record<InstallParameterName, string[]>> {
  return Object.fromEntries(
    (Object.entries(HOST_SETTING_PARAMETERS) as [keyof HostInstallSettings, InstallParameterName][])
      .filter(([setting]) => host[setting] !== '')
      .map(([setting, parameter]) => [parameter, [host[setting]]]),
  );
}

export function meetsInstallRule(name: InstallParameterName, value: string): boolean {
  const rule: InstallParameterRule = INSTALL_PARAMETER_RULES[name];
  return value.length <= rule.maxChars && new RegExp(rule.pattern).test(value);
}

/**
 * Install profiles: how one kind of host takes its certificates (directories, owner, group, reload
 * command), by name. The administrator sets them at deploy (`installProfiles`, plus the `install*` keys
 * as the profile named `default`); an export request only names one. Nothing a caller sends becomes a
 * directory or a command on a host.
 */
export type InstallProfiles = Readonly<Record<string, HostInstallSettings>>;

/** The environment variable the stack passes the profiles in (JSON), to the functions that use them. */
export const INSTALL_PROFILES_ENV = 'INSTALL_PROFILES';

export function installProfilesFromEnv(env: NodeJS.ProcessEnv = process.env): InstallProfiles {
  const text = env[INSTALL_PROFILES_ENV];
  if (!text) throw new Error(`environment variable ${INSTALL_PROFILES_ENV} is not set`);
  return JSON.parse(text) as InstallProfiles;
}

/** The settings of the profile `name` (`default` when none is named), or a clear error naming the others. */
export function profileSettings(
  profiles: InstallProfiles,
  name: string = DEFAULT_PROFILE,
): HostInstallSettings {
  const settings = Object.hasOwn(profiles, name) ? profiles[name] : undefined;
  if (!settings) {
    throw new UnknownProfileError(
      `install profile "${name}" does not exist in this deployment; its profiles are: ${Object.keys(profiles).sort().join(', ')}`,
    );
  }
  return settings;
}
