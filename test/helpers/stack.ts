import { Template } from 'aws-cdk-lib/assertions';
import { createApp } from '../../lib/app.js';

/** Synthesizes the app as `cdk synth` would, without bundling the handlers unless asked (it is slow). */
export function synthesize(context: Record<string, unknown> = {}, { bundle = false } = {}) {
  const { app, stack } = createApp({
    context: { ...(bundle ? {} : { 'aws:cdk:bundling-stacks': [] }), ...context },
  });
  return { app, stack, template: Template.fromStack(stack) };
}
