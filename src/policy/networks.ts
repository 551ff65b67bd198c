import { BlockList, isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';
import { LRUCache } from 'lru-cache';

/**
 * Client addresses whose answer is remembered. A BlockList check builds a SocketAddress each time,
 * ~1% of the main thread under SMTP load, asked at connect and again at every MAIL FROM; the clients
 * of a relay (its applications, its provider's webhook hosts) are a few addresses asking again and again.
 */
const REMEMBERED_ADDRESSES = 1024;

/** An IPv4 address as a dual-stack listener's socket reports it. */
const IPV4_MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * A socket's peer address as people write it: an IPv4 client of a listener on `::` (which its socket
 * reports as `::ffff:192.0.2.7`) as its IPv4 address, so that one client is one address in every log
 * line, count and console page, whichever listener it reached (smtp-server does the same for its
 * sessions' `remoteAddress`).
 */
export function peerAddress(address: string | undefined): string {
  const raw = address ?? '';
  return IPV4_MAPPED.exec(raw)?.[1] ?? raw;
}

/** A host as it goes before `:port`: an IPv6 address in brackets, or its own colons would run into the port's (`:::25`). */
export function hostBeforePort(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * A network as one form of it, for comparing two lists: the address as ipaddr.js prints it (IPv6 compressed, lower
 * case) and its prefix, a bare address as the one-address network networkMatcher takes it for.
 */
export function canonicalNetwork(cidr: string): string {
  const [network = '', bits] = cidr.split('/');
  const address = ipaddr.parse(network);
  return `${address.toString()}/${bits === undefined ? (address.kind() === 'ipv4' ? 32 : 128) : Number(bits)}`;
}

/** A predicate for "this client address is in one of these networks" (IPv4-mapped IPv6 included). */
export function networkMatcher(cidrs: readonly string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [network = '', bits] = cidr.split('/');
    const family = isIPv6(network) ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(network, family);
    else list.addSubnet(network, Number(bits), family);
  }
  const remembered = new LRUCache<string, boolean>({ max: REMEMBERED_ADDRESSES });
  return (address) => {
    let inside = remembered.get(address);
    if (inside === undefined) {
      inside = check(list, address);
      remembered.set(address, inside);
    }
    return inside;
  };
}

function check(list: BlockList, address: string): boolean {
  try {
    return list.check(address, isIPv6(address) ? 'ipv6' : 'ipv4');
  } catch {
    return false;
  }
}

/** The networks that never leave this machine (RFC 1122 §3.2.1.3: all of 127/8; RFC 4291 §2.5.3). */
const isLoopbackAddress = networkMatcher(['127.0.0.0/8', '::1/128']);

/**
 * A host as a URL or a setting writes it (a name, an address, an IPv6 address in brackets) that
 * reaches this machine only, so a credential sent to it in clear never crosses a network.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  return bare.toLowerCase() === 'localhost' || isLoopbackAddress(bare);
}

/** A comma-list header's items (`X-Forwarded-For: a, b`), over repeated headers too. */
export function headerList(value: string | string[] | undefined): string[] {
  return (Array.isArray(value) ? value.join(',') : (value ?? ''))
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

/**
 * The client behind `hops` (`X-Forwarded-For`, as headerList reads it) that reached us from `peer`:
 * the right-most hop that is not one of our proxies (hops further left are whatever the client wrote);
 * the peer itself when no hop is, or when the peer is no proxy of ours (its header is not believed).
 */
export function forwardedClient(isProxy: (address: string) => boolean, peer: string, hops: readonly string[]): string {
  if (!isProxy(peer)) return peer;
  return [...hops].reverse().find((hop) => !isProxy(hop)) ?? peer;
}

/**
 * The slots of a listener's `maxConnections` kept for its own clients (the trusted networks, loopback): `share` of
 * them rounded up, so at least one from 2 connections up; none at 1 (that one slot is everyone's), all but one at most.
 */
export function reservedSlots(maxConnections: number, share: number): number {
  return Math.max(0, Math.min(Math.ceil(maxConnections * share), maxConnections - 1));
}
