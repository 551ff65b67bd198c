#!/usr/bin/env node
// The relay is TypeScript run through tsx's loader: no build step between a clone and `npm start`.
import { register } from 'tsx/esm/api';

register();
// Before the commands' modules load (seconds on a loaded machine): a signal meanwhile is kept for `start` (src/start-signals.ts).
const { holdSignals } = await import('../src/start-signals.ts');
holdSignals();
await import('../src/cli.ts');
