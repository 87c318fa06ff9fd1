/**
 * The host of an address: `host:port`, `[v6]:port` or `v6:port` (grpc-js peers, `--addr` targets) without
 * its port and brackets; an address without a port is returned as it is.
 */
export const hostOf = (address: string): string => address.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1')
