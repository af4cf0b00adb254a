/**
 * Just enough of IAM's policy evaluation to ask a synthesized policy document whether it allows one
 * request: Allow statements only (these templates have no Deny), the condition operators they use
 * (StringEquals, StringLike, ArnLike, Null, Bool, ForAnyValue:StringEquals), `${aws:PrincipalTag/…}` policy
 * variables, and `*` wildcards in actions and resources. A request is allowed when some statement's
 * action, resource and every condition match.
 */
export interface PolicyRequest {
  readonly action: string;
  readonly resource: string;
  /** Condition keys and their values in the request context (a multivalued key: an array). */
  readonly context: Record<string, string | readonly string[] | undefined>;
  /** For a resource policy: the account of the calling principal (an account's root names all of them). */
  readonly principalAccount?: string;
}

interface Statement {
  Effect: string;
  Principal?: '*' | { AWS?: string | string[]; Service?: string | string[] };
  Action: string | string[];
  Resource?: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

const list = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

function wildcard(pattern: string, value: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return regex.test(value);
}

function substitute(value: string, context: PolicyRequest['context']): string | undefined {
  let missing = false;
  const result = value.replace(/\$\{([^}]+)\}/g, (_, key: string) => {
    const found = context[key];
    if (typeof found !== 'string') missing = true;
    return typeof found === 'string' ? found : '';
  });
  return missing ? undefined : result;
}

function conditionHolds(
  operator: string,
  key: string,
  expected: string | string[],
  context: PolicyRequest['context'],
): boolean {
  const actual = context[key];
  const wanted = list(expected)
    .map((value) => substitute(value, context))
    .filter((value): value is string => value !== undefined);
  if (operator === 'Null') return String(actual === undefined) === String(list(expected)[0]);
  if (actual === undefined) return false;
  if (operator === 'Bool') return String(actual).toLowerCase() === String(list(expected)[0]).toLowerCase();
  const values = list(actual as string | string[]);
  const match = (value: string) =>
    operator.endsWith('StringEquals')
      ? wanted.includes(value)
      : wanted.some((pattern) => wildcard(pattern, value));
  if (operator.startsWith('ForAnyValue:')) return values.some(match);
  if (!['StringEquals', 'StringLike', 'ArnLike', 'ArnEquals'].includes(operator)) {
    throw new Error(`the evaluator does not know condition operator ${operator}`);
  }
  return values.length === 1 && match(values[0]!);
}

function principalMatches(statement: Statement, request: PolicyRequest): boolean {
  if (request.principalAccount === undefined || statement.Principal === undefined) return true;
  if (statement.Principal === '*') return true;
  return list(statement.Principal.AWS).some(
    (principal) => principal === '*' || principal.split(':')[4] === request.principalAccount,
  );
}

/** Whether the policy document allows the request. */
export function allows(document: { Statement: readonly unknown[] }, request: PolicyRequest): boolean {
  return (document.Statement as Statement[]).some(
    (statement) =>
      statement.Effect === 'Allow' &&
      principalMatches(statement, request) &&
      list(statement.Action).some((action) => wildcard(action, request.action)) &&
      (statement.Resource === undefined ||
        list(statement.Resource).some((resource) => wildcard(resource, request.resource))) &&
      Object.entries(statement.Condition ?? {}).every(([operator, keys]) =>
        Object.entries(keys).every(([key, expected]) =>
          conditionHolds(operator, key, expected, request.context),
        ),
      ),
  );
}

/** A template fragment as CloudFormation resolves it: pseudo parameters given, `Fn::Join` joined. */
export function resolveIntrinsics(value: unknown, pseudo: Record<string, string>): unknown {
  if (Array.isArray(value)) return value.map((item) => resolveIntrinsics(item, pseudo));
  if (value === null || typeof value !== 'object') return value;
  const object = value as Record<string, unknown>;
  if (typeof object.Ref === 'string' && object.Ref in pseudo) return pseudo[object.Ref];
  if (Array.isArray(object['Fn::Join'])) {
    const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
    const resolved = parts.map((part) => resolveIntrinsics(part, pseudo));
    if (resolved.every((part) => typeof part === 'string')) return resolved.join(separator);
  }
  return Object.fromEntries(
    Object.entries(object).map(([key, item]) => [key, resolveIntrinsics(item, pseudo)]),
  );
}
