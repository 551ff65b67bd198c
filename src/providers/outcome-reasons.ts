/**
 * The category of a gateway certificate the relay does not trust (the generic rules', and a provider's own where its
 * advice names its own setting, as SMPP's gateway.host): an error for the operator as it starts or changes, not a
 * passing failure.
 */
export const TLS_CERTIFICATE = 'tls-certificate';

/** The plain words several providers' outcome rules give the sender, worded once. */
export const REASONS = {
  accepted: 'accepted by the SMS gateway',
  temporary: 'the SMS gateway had a temporary problem',
  refused: 'the SMS gateway refused the message',
} as const;
