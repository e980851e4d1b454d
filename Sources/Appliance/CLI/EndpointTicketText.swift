import Core
import Transport

/// The shareable `endpoint…` ticket (iroh-wire.md §1.3) for our transport id and the direct addresses
/// we know; addresses that do not parse as IP:port are left out rather than failing the command.
func endpointTicket(for id: Ed25519.PublicKey, addresses: [String]) -> String {
    let socketAddresses = addresses.compactMap { try? SocketAddress($0) }
    return EndpointTicket(addr: EndpointAddr(id: id, ipAddresses: socketAddresses)).description
}
