/**
 * Text for a field that must be printable US-ASCII: an SMTP reply line (RFC 5321 §4.2, without
 * SMTPUTF8), a delivery-status field (RFC 3464 §2.1.2). Letters keep their base letter (`Résumé` →
 * `Resume`, `ﬁ` → `fi`: compatibility decomposition, then the combining marks dropped), so a name
 * stays readable; anything else without an ASCII form (CJK, emoji, controls) becomes `?`.
 */
export function printableAscii(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/[^\x20-\x7e]/gu, '?');
}
