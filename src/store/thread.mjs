// The store's worker thread runs TypeScript like the rest of the relay: tsx's loader first.
import { register } from 'tsx/esm/api';

register();
await import('./thread-server.ts');
