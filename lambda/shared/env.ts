/** Reads a setting the stack gives every function; a missing one is a deployment bug, so it fails loudly. */
export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`environment variable ${name} is not set`);
  }
  return value;
}

export function requiredIntegerEnv(name: string): number {
  const value = Number(requiredEnv(name));
  if (!Number.isInteger(value)) throw new Error(`environment variable ${name} must be an integer`);
  return value;
}

/** The partition a function runs in (aws, aws-cn, aws-us-gov, …), from the ARN Lambda invoked it by. */
export function partitionOf(invokedFunctionArn: string): string {
  const partition = invokedFunctionArn.split(':')[1];
  if (!partition || !/^aws(-[a-z]+)*$/.test(partition))
    throw new Error(`cannot read the partition from ${invokedFunctionArn}`);
  return partition;
}

/** The account and Region a function runs in: this deployment's own, as against a member account's. */
export function homeOf(invokedFunctionArn: string): { account: string; region: string } {
  return { account: accountIdOf(invokedFunctionArn), region: requiredEnv('AWS_REGION') };
}

/** The account a function runs in, from the ARN Lambda invoked it by. */
export function accountIdOf(invokedFunctionArn: string): string {
  const account = invokedFunctionArn.split(':')[4];
  if (!account || !/^\d{12}$/.test(account))
    throw new Error(`cannot read the account from ${invokedFunctionArn}`);
  return account;
}
