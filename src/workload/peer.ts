/** How the echo server writes a peer address: IPv4 dotted, without the IPv4-mapped IPv6 prefix. */

/** Strips `::ffff:` from an IPv4-mapped IPv6 address; other addresses are returned unchanged. */
export function plainAddress(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

/** `ip:port` as agnhost's netexec reports a client (IPv6 in brackets, as Go's net.JoinHostPort does). */
export function formatPeer(address: string | undefined, port: number | undefined): string {
  const ip = plainAddress(address ?? '');
  const host = ip.includes(':') ? `[${ip}]` : ip;
  return `${host}:${port ?? 0}`;
}
