/** The plain words several providers' outcome rules give the sender, worded once. */
export const REASONS = {
  accepted: 'accepted by the SMS gateway',
  temporary: 'the SMS gateway had a temporary problem',
  refused: 'the SMS gateway refused the message',
} as const;
