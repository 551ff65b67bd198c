/** Setting types more than one provider's settings use, with the config's wording of their errors. */
import { z } from 'zod';

/** An account number in the provider's portal; the environment gives it as digits. */
export const accountNumber = z.coerce.number().int('expected a whole number').positive('expected a number above 0');
