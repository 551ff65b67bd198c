/**
 * The MO baseline: a bare fastify handler that parses the form and answers 200 — what any Node
 * webhook does at minimum, with no store and no fsync. Prints its port on stdout.
 */
import Fastify from 'fastify';

const app = Fastify();
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => done(null, new URLSearchParams(body as string)));
app.post('/mo', async (request) => ({ status: 'accepted', from: (request.body as URLSearchParams).get('from') }));
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
console.log(JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 }));
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
