/**
 * The built-in simulators by provider name, each loaded only when asked for: a relay that talks to a
 * real gateway never loads simulator code.
 */
import type { BuiltInProviderName } from '../vocabulary.ts';
import type { ProviderSimulator, SimulatorOptions } from './contract.ts';

const SIMULATORS: Readonly<Record<BuiltInProviderName, (options: SimulatorOptions) => Promise<ProviderSimulator>>> = {
  intellisoftware: async (options) => {
    const { IntelliSoftwareSimulator, intellisoftwareSimulatorView } = await import('./intellisoftware.ts');
    return intellisoftwareSimulatorView(new IntelliSoftwareSimulator(options));
  },
  puzzel: async (options) => new (await import('./puzzel.ts')).PuzzelSimulator(options),
  interactsms: async (options) => new (await import('./interactsms.ts')).InteractSmsSimulator(options),
  twilio: async (options) => new (await import('./twilio.ts')).TwilioSimulator(options),
  vonage: async (options) => new (await import('./vonage.ts')).VonageSimulator(options),
  smpp: async (options) => new (await import('./smpp.ts')).SmppSimulator(options),
};

/** The providers that have a simulator (`<name>-simulator` in config). */
export const SIMULATED_PROVIDERS: readonly string[] = Object.keys(SIMULATORS);

/** The built-in simulators' account; they check it like the real gateway would (an SMPP password is at most 8 characters). */
export const SIMULATOR_ACCOUNT = { username: 'simulator', password: 'sim-pass', accountId: '1000' } as const;

/**
 * What a provider needs besides the account to send at all, given to it when it runs against its
 * simulator and the configuration names none: `SMSRELAY_GATEWAY=twilio-simulator npm start` sends
 * out of the box, as the real provider would once its sender is set up.
 */
const SIMULATED_SETTINGS: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  twilio: { messagingServiceSid: `MG${'0'.repeat(32)}` },
  vonage: { from: 'SMSRelay' },
};

/** The provider's settings as it runs against its simulator: the configured ones, the simulator's where none is set. */
export function simulatedSettings(name: string, configured: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  const set = Object.fromEntries(Object.entries(configured).filter(([, value]) => value !== undefined));
  return { ...SIMULATED_SETTINGS[name], ...set };
}

function hasSimulator(name: string): name is BuiltInProviderName {
  return Object.hasOwn(SIMULATORS, name);
}

/** The simulator of provider `name`; throws a RangeError when it has none (config refuses that name first). */
export function createSimulator(name: string, options: SimulatorOptions): Promise<ProviderSimulator> {
  if (!hasSimulator(name)) throw new RangeError(`no simulator for provider "${name}"`);
  return SIMULATORS[name](options);
}
