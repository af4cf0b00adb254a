#!/usr/bin/env node
import { createApp } from '../lib/app.js';
import { ConfigError } from '../lib/config.js';

try {
  createApp();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}
