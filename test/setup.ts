import 'aws-sdk-client-mock-vitest/extend';

// Handlers read their Region from the runtime's variable; tests run as if in eu-west-1.
process.env.AWS_REGION ??= 'eu-west-1';
