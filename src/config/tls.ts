import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

/**
 * How long before its end a certificate is warned about: a CA's renewal (ACME renews 30 days ahead)
 * has failed by then, and two weeks leave time to fix it before clients that check refuse the relay.
 */
export const CERTIFICATE_EXPIRY_WARNING_DAYS = 14;
const DAY_MS = 86_400_000;

/** The files of `smtp.tls`, as the listeners use them. */
export interface TlsFiles {
  readonly key: string;
  readonly cert: string;
}

/** A key and certificate that make a secure context, and what the operator should hear about the certificate. */
export interface TlsPair {
  readonly ok: true;
  readonly key: Buffer;
  readonly cert: Buffer;
  /** The certificate has expired or expires within CERTIFICATE_EXPIRY_WARNING_DAYS. */
  readonly warning: string | undefined;
}

/** Why the pair cannot be used: the setting at fault (`key` or `cert`) and the reason with its fix. */
export interface TlsProblem {
  readonly ok: false;
  readonly setting: keyof TlsFiles;
  readonly reason: string;
}

/**
 * Reads `smtp.tls` and checks it as the listeners would use it, so that a bad file is named with its
 * setting and what to do (at start, by `config check`, and at a SIGHUP, which then keeps the previous
 * pair) rather than surfacing as OpenSSL's words, or a handshake that fails for every client.
 */
export function readTlsPair(files: TlsFiles, now: number = Date.now()): TlsPair | TlsProblem {
  const key = readPem(files, 'key');
  if (!key.ok) return key;
  const cert = readPem(files, 'cert');
  if (!cert.ok) return cert;
  const privateKey = parsed(() => createPrivateKey(key.pem));
  const certificate = parsed(() => new X509Certificate(cert.pem));
  if (!privateKey && !certificate && parsed(() => new X509Certificate(key.pem)) && parsed(() => createPrivateKey(cert.pem))) {
    return { ok: false, setting: 'key', reason: `${files.key} holds a certificate and ${files.cert} a private key: the two are swapped; exchange them` };
  }
  if (!privateKey) {
    const reason = encryptedKeyProblem(files.key, key.pem) ?? `${files.key} holds no PEM private key (-----BEGIN PRIVATE KEY-----); name the key file`;
    return { ok: false, setting: 'key', reason };
  }
  if (!certificate)
    return { ok: false, setting: 'cert', reason: `${files.cert} holds no PEM certificate (-----BEGIN CERTIFICATE-----); name the certificate file` };
  if (!certificate.checkPrivateKey(privateKey)) {
    return {
      ok: false,
      setting: 'cert',
      reason: `${files.cert} is the certificate of another key than ${files.key}; name the certificate issued for this key (or the key of this certificate)`,
    };
  }
  try {
    createSecureContext({ key: key.pem, cert: cert.pem });
  } catch (error) {
    return { ok: false, setting: 'key', reason: `${files.key} and ${files.cert} make no TLS context: ${(error as Error).message}` };
  }
  return { ok: true, key: key.pem, cert: cert.pem, warning: expiryWarning(files.cert, new Date(certificate.validTo), now) };
}

function readPem(files: TlsFiles, setting: keyof TlsFiles): { ok: true; pem: Buffer } | TlsProblem {
  const read = readPemFile(files[setting]);
  return read.ok ? read : { ok: false, setting, reason: read.reason };
}

/** A PEM file a setting names, or why it cannot be read (with what to do), in words that name the path. */
function readPemFile(path: string): { ok: true; pem: Buffer } | { ok: false; reason: string } {
  try {
    return { ok: true, pem: readFileSync(path) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? `${path}: no such file; name the PEM file`
        : code === 'EISDIR'
          ? `${path} is a directory; name the PEM file in it`
          : code === 'EACCES'
            ? `${path} cannot be read by the relay's user; let it read the file`
            : `${path} cannot be read: ${(error as Error).message}`;
    return { ok: false, reason };
  }
}

/**
 * The shortest DKIM key: RFC 8301 §3.2 has verifiers refuse RSA keys under 1024 bits, so a shorter
 * one signs mail that every receiver treats as unsigned.
 */
const MIN_DKIM_KEY_BITS = 1024;

/**
 * Why `mail.dkim.privateKeyFile` cannot sign, with what to do; undefined when it can. The signer
 * (nodemailer's) signs rsa-sha256 only, and a key it cannot use left reply mails unsigned without a
 * word: a certificate, a public key, an Ed25519 or EC key is refused here instead.
 */
export function dkimKeyProblem(path: string): string | undefined {
  const read = readPemFile(path);
  if (!read.ok) return read.reason;
  const key = parsed(() => createPrivateKey(read.pem));
  if (!key) {
    return (
      encryptedKeyProblem(path, read.pem) ??
      `${path} holds no PEM private key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----); name the DKIM key file`
    );
  }
  if (key.asymmetricKeyType !== 'rsa') {
    return `${path} holds an ${key.asymmetricKeyType ?? 'unknown'} key: DKIM signing here is rsa-sha256; make an RSA key (openssl genrsa -out dkim.pem 2048) and publish its public key`;
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_DKIM_KEY_BITS) return `${path} holds a ${bits}-bit RSA key: receivers ignore DKIM keys under ${MIN_DKIM_KEY_BITS} bits; make one of 2048`;
  return undefined;
}

/**
 * A passphrase-protected key (PKCS#8's ENCRYPTED PRIVATE KEY, or OpenSSL's traditional form with a
 * `Proc-Type: 4,ENCRYPTED` header, as `openssl genrsa -aes128` writes) cannot be read without the
 * passphrase, which the relay never asks for: said as such, with the command that writes it unencrypted,
 * rather than as a file holding no key.
 */
function encryptedKeyProblem(path: string, pem: Buffer): string | undefined {
  const text = pem.toString('latin1');
  if (!/^-----BEGIN ENCRYPTED PRIVATE KEY-----\r?$/m.test(text) && !/^Proc-Type:[ \t]*4,[ \t]*ENCRYPTED\b/im.test(text)) return undefined;
  return `${path} holds an encrypted (passphrase-protected) private key: the relay takes no passphrase; write it unencrypted (openssl pkey -in ${path} -out plain.pem), keep that file readable by the relay's user only (chmod 600) and name it`;
}

function parsed<T>(parse: () => T): T | undefined {
  try {
    return parse();
  } catch {
    return undefined;
  }
}

function expiryWarning(path: string, expires: Date, now: number): string | undefined {
  const day = expires.toISOString().slice(0, 10);
  if (expires.getTime() <= now) return `${path}: the certificate expired on ${day}: clients that check certificates refuse it; renew it, then send SIGHUP`;
  const days = Math.ceil((expires.getTime() - now) / DAY_MS);
  if (days > CERTIFICATE_EXPIRY_WARNING_DAYS) return undefined;
  return `${path}: the certificate expires on ${day} (in ${days} ${days === 1 ? 'day' : 'days'}); renew it, then send SIGHUP`;
}
