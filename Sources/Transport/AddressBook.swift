import Core
import Foundation
import Synchronization

/// Direct addresses known per EndpointId, most recently successful first, optionally persisted
/// as JSON. `Endpoint.connect(to:alpn:addressBook:)` dials them in that order.
public final class AddressBook: Sendable {
    /// Addresses kept per endpoint; older ones fall off.
    public static let maxAddressesPerEndpoint = 16

    private let entries: Mutex<[String: [String]]>
    private let path: String?

    /// Loads `path` if it exists (nil: memory only).
    public init(path: String? = nil) throws(TransportError) {
        self.path = path
        var loaded: [String: [String]] = [:]
        if let path, FileManager.default.fileExists(atPath: path) {
            guard let data = FileManager.default.contents(atPath: path),
                  let decoded = try? JSONDecoder().decode([String: [String]].self, from: data) else {
                throw .setup("address book \(path) is not a JSON object of id → [address]")
            }
            for (id, addrs) in decoded where (try? EndpointId(hex: id)) != nil {
                loaded[id] = addrs.filter { (try? SocketAddress($0)) != nil }
            }
        }
        entries = Mutex(loaded)
    }

    /// Merges `addr`'s IP addresses (new ones go first).
    public func add(_ addr: EndpointAddr) {
        add(id: addr.id, addresses: addr.ipAddresses, preferred: false)
    }

    /// Records that `address` worked for `id`: it moves to the front.
    public func recordSuccess(id: EndpointId, address: SocketAddress) {
        add(id: id, addresses: [address], preferred: true)
    }

    private func add(id: EndpointId, addresses: [SocketAddress], preferred: Bool) {
        entries.withLock { book in
            var list = book[id.hex] ?? []
            for address in addresses.reversed() {
                let text = address.description
                if let existing = list.firstIndex(of: text) {
                    if !preferred { continue }
                    list.remove(at: existing)
                }
                list.insert(text, at: 0)
            }
            book[id.hex] = Array(list.prefix(AddressBook.maxAddressesPerEndpoint))
        }
    }

    public func forget(_ id: EndpointId) {
        _ = entries.withLock { $0.removeValue(forKey: id.hex) }
    }

    public func addr(for id: EndpointId) -> EndpointAddr? {
        let texts = entries.withLock { $0[id.hex] } ?? []
        let addresses = texts.compactMap { try? SocketAddress($0) }
        return addresses.isEmpty ? nil : EndpointAddr(id: id, ipAddresses: addresses)
    }

    /// Addresses in dialling order (EndpointAddr sorts, so keep the book's order separately).
    func dialOrder(for id: EndpointId) -> [SocketAddress] {
        (entries.withLock { $0[id.hex] } ?? []).compactMap { try? SocketAddress($0) }
    }

    public var count: Int { entries.withLock { $0.count } }

    /// Writes the book atomically (temporary file + rename).
    public func save() throws(TransportError) {
        guard let path else { return }
        let snapshot = entries.withLock { $0 }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        do {
            let data = try encoder.encode(snapshot)
            let temporary = path + ".tmp"
            try data.write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, path) == 0 else { throw TransportError.setup("rename to \(path) failed: errno \(errno)") }
        } catch let error as TransportError {
            throw error
        } catch {
            throw .setup("cannot write address book \(path): \(error)")
        }
    }
}

extension Endpoint {
    /// Dials `id` at every address the book knows, most recently successful first, and records
    /// the one that worked.
    public func connect(to id: EndpointId, alpn: String, addressBook: AddressBook, timeout: Duration = .seconds(10)) async throws -> Connection {
        let addresses = addressBook.dialOrder(for: id)
        guard !addresses.isEmpty else { throw TransportError.connectFailed("no known address for \(id.hex)") }
        var lastError: Error = TransportError.connectFailed("no address tried")
        for address in addresses where core.family == AF_INET6 || address.isIPv4 {
            do {
                let connection = try await connect(to: address, id: id, alpn: alpn, timeout: timeout)
                addressBook.recordSuccess(id: id, address: address)
                return connection
            } catch let error as TransportError {
                lastError = error
                if case .connectionClosed(let reason) = error {
                    switch reason {
                    case .handshakeTimeout, .idleTimeout, .reset: continue
                    default: throw error
                    }
                }
            }
        }
        throw lastError
    }
}
