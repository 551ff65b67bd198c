/**
 * Tests every provider runs, against its adapter or its simulator. Foremost the wire-fixture suites,
 * run twice: the same request and response bytes hold the adapter and the simulator to the protocol,
 * each on its own side.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sendRaw, type RawRequest, type RawResponse } from './raw-http.ts';
import { ReplayServer, serveDuringSuite, type RecordedRequest, type ReplayAnswer } from './replay-server.ts';

interface Fixture {
  readonly name: string;
  readonly description: string;
  readonly request: RawRequest & { readonly method: 'GET' | 'POST' };
  readonly response: ReplayAnswer;
}

interface AdapterSuite<F extends Fixture> {
  readonly fixtures: readonly F[];
  /** Fewer fixtures than this means that they were not found. */
  readonly atLeast: number;
  /** Of the stand-in gateway's answers that name none. */
  readonly contentType: string;
  /** Has the adapter send the fixture's submission, in the fixture's account, to the gateway at `url`. */
  readonly send: (fixture: F, url: string) => Promise<unknown>;
  /** What the request must be besides the fixture's method, path and content type. */
  readonly checkRequest: (request: RecordedRequest, fixture: F) => void;
}

/**
 * One test per fixture: the adapter's one request for the fixture's submission must be the fixture's
 * request, and what it makes of the fixture's response the fixture's `result`.
 */
export function describeAdapterFixtures<F extends Fixture & { readonly result?: unknown }>(title: string, suite: AdapterSuite<F>): void {
  describe(title, () => {
    const server = new ReplayServer({ contentType: suite.contentType });
    serveDuringSuite(server);

    it('has fixtures to run', () => {
      assert.ok(suite.fixtures.length >= suite.atLeast, `only ${suite.fixtures.length} adapter fixtures found`);
    });

    for (const fixture of suite.fixtures) {
      it(`${fixture.name}: ${fixture.description}`, async () => {
        server.requests.length = 0;
        server.answer = fixture.response;

        const result = await suite.send(fixture, server.url);

        assert.equal(server.requests.length, 1, 'exactly one HTTP request per send');
        const [request] = server.requests;
        assert.ok(request);
        assert.equal(request.method, fixture.request.method);
        assert.equal(request.path, fixture.request.path);
        assert.equal(request.contentType, fixture.request.contentType);
        suite.checkRequest(request, fixture);
        assert.deepEqual(result, fixture.result);
      });
    }
  });
}

/**
 * What an adapter does with its base URLs, against two stand-in gateways that answer it: `send` sends
 * one submission through a fresh gateway with these `endpoints` to the one at `index`.
 */
export function itUsesEndpointsAsGiven(
  primary: ReplayServer,
  backup: ReplayServer,
  sendPath: string,
  send: (endpoints: string[], index: number) => Promise<{ readonly kind: string }>,
): void {
  it('keeps a base URL path prefix, with or without a trailing slash', async () => {
    for (const base of [`${primary.url}/gw/`, `${primary.url}/gw`]) {
      await send([base], 0);
      assert.equal(primary.requests.at(-1)?.path, `/gw${sendPath}`, base);
    }
  });

  it('sends to the endpoint it is asked for', async () => {
    const before = { primary: primary.requests.length, backup: backup.requests.length };
    const result = await send([primary.url, backup.url], 1);
    assert.equal(result.kind, 'answered');
    assert.equal(primary.requests.length, before.primary);
    assert.equal(backup.requests.length, before.backup + 1);
  });
}

/** How a fixture has the simulator set up before its request is sent. */
interface SimulatorSetup {
  readonly invalidNumbers?: readonly string[] | undefined;
  /** As `POST /simulator/control` takes it: the simulator checks it. */
  readonly behaviour?: unknown;
}

interface Listening<Simulator> {
  readonly simulator: Simulator;
  readonly url: string;
  close(): Promise<void>;
}

interface SimulatorSuite<F extends Fixture, Simulator> {
  readonly fixtures: readonly F[];
  /** Fewer fixtures than this means that they were not found. */
  readonly atLeast: number;
  /** A simulator of its own for one fixture, whose network refuses `invalidNumbers`. */
  readonly listen: (invalidNumbers: readonly string[] | undefined) => Promise<Listening<Simulator>>;
  /** Sets up what the provider's fixtures add to the common setup. */
  readonly prepare?: (sim: Listening<Simulator>, fixture: F) => Promise<void>;
  /** What the answer must be besides the fixture's status. */
  readonly checkResponse: (response: RawResponse, fixture: F, simulator: Simulator) => void;
}

/** One test per fixture: the simulator must answer the fixture's request bytes with the fixture's response. */
export function describeSimulatorFixtures<
  F extends Fixture & { readonly simulator?: false | SimulatorSetup | undefined },
  Simulator extends { setBehaviour(behaviour: never): void },
>(title: string, suite: SimulatorSuite<F, Simulator>): void {
  describe(title, () => {
    it('has fixtures to run', () => {
      assert.ok(suite.fixtures.length >= suite.atLeast, `only ${suite.fixtures.length} simulator fixtures found`);
    });

    for (const fixture of suite.fixtures) {
      it(`${fixture.name}: ${fixture.description}`, async () => {
        const setup = fixture.simulator === false ? undefined : fixture.simulator;
        const sim = await suite.listen(setup?.invalidNumbers);
        try {
          if (setup?.behaviour !== undefined) sim.simulator.setBehaviour(setup.behaviour as never);
          await suite.prepare?.(sim, fixture);
          const response = await sendRaw(sim.url, fixture.request);
          assert.equal(response.status, fixture.response.status);
          suite.checkResponse(response, fixture, sim.simulator);
        } finally {
          await sim.close();
        }
      });
    }
  });
}
