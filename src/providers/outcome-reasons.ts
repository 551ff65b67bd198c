/**
 * The category of a gateway certificate the relay does not trust (the generic rules', and a provider's own where its
 * advice names its own setting, as SMPP's gateway.host): an error for the operator as it starts or changes, not a
 * passing failure.
 */
export const TLS_CERTIFICATE = 'tls-certificate';

/**
 * Node's codes for a peer certificate it does not trust: every OpenSSL verification result Node names
 * (X509_V_ERR_*, node's crypto_common.cc) but OUT_OF_MEM, UNSPECIFIED (Node's name for every result it does not
 * name, as OpenSSL 3's key too small or digest too weak: still a verification of the peer's certificate at the
 * handshake, before any byte of a request), and its own name check's code. Not ERR_TLS_CERT_ALTNAME_FORMAT: Node
 * throws it from its name check out of the socket's handshake listener, never as an error a request fails with.
 * One list: an HTTP gateway's connect phase, SMPP's bind and the outcome rules (the generic one and SMPP's) all
 * read it, so a code one knows the others know.
 */
export const TLS_CERTIFICATE_CODES: ReadonlySet<string> = new Set([
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'UNSPECIFIED',
]);

/**
 * What an untrusted certificate may be, in the advice of every rule and log line about one (too weak: a key or a
 * signature's digest below OpenSSL's security level, as a 768-bit RSA key, UNSPECIFIED in Node's code).
 */
export const UNTRUSTED_CERTIFICATE_KINDS = 'self-signed, expired, for another name or too weak';

/** The outcome rules' match for a connect phase that failed on one of TLS_CERTIFICATE_CODES. */
export const TLS_CERTIFICATE_CONNECT = new RegExp(`^connect/(${[...TLS_CERTIFICATE_CODES].join('|')})$`);

/** The plain words several providers' outcome rules give the sender, worded once. */
export const REASONS = {
  accepted: 'accepted by the SMS gateway',
  temporary: 'the SMS gateway had a temporary problem',
  refused: 'the SMS gateway refused the message',
} as const;
