/**
 * A sender id that starts with "+" is meant as a number, whatever else is wrong with it: the refusal
 * says what is wrong with it as a number, not that it holds characters other than letters, digits and
 * spaces (`+1 555 0100` holds nothing else but its spaces and the "+" every number may have).
 */
export function plusNumberProblem(senderId: string, rule: string): string | undefined {
  if (!senderId.startsWith('+')) return undefined;
  // The digits are not suggested without the spaces: read so, a number may be too short (+15550100).
  if (!/^\+\d+$/.test(senderId))
    return `The sender id "${senderId}" is a number with characters other than digits after its "+" (write "+" and the digits alone): ${rule}.`;
  return `The sender id "${senderId}" is a number of ${senderId.length - 1} digits, more or fewer than a number in international form has: ${rule}.`;
}
