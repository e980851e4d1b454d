import Core
import Foundation
import TestSupport
import Testing
@testable import Transport

@Suite("Address book")
struct AddressBookTests {
    @Test("merges, orders by success, persists and reloads")
    func persistence() throws {
        let path = NSTemporaryDirectory() + "addressbook-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let id = Ed25519.SecretKey.generate().publicKey
        let a = try SocketAddress("10.0.0.1:1"), b = try SocketAddress("10.0.0.2:2"), c = try SocketAddress("[fd00::3]:3")
        let book = try AddressBook(path: path)
        book.add(EndpointAddr(id: id, ipAddresses: [a, b]))
        book.add(EndpointAddr(id: id, ipAddresses: [b, c]))
        #expect(Set(book.dialOrder(for: id)) == [a, b, c])
        book.recordSuccess(id: id, address: c)
        #expect(book.dialOrder(for: id).first == c)
        try book.save()
        let reloaded = try AddressBook(path: path)
        #expect(reloaded.dialOrder(for: id) == book.dialOrder(for: id))
        #expect(reloaded.addr(for: id)?.ipAddresses.count == 3)
        reloaded.forget(id)
        #expect(reloaded.addr(for: id) == nil)
    }

    @Test("a corrupt file is reported, not ignored")
    func corrupt() throws {
        let path = NSTemporaryDirectory() + "addressbook-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("not json".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: TransportError.self) { try AddressBook(path: path) }
    }

    @Test("dialling tries every known address until one answers")
    func dialsAll() async throws {
        try requireNamespace()
        let server = try makeEndpoint(router: Router().adding(alpn: testALPN, handler: EchoHandler()))
        let client = try makeEndpoint()
        let book = try AddressBook()
        // A dead port first (nothing listens there), then the real one.
        let dead = try SocketAddress("127.0.0.1:9")
        book.add(EndpointAddr(id: server.id, ipAddresses: [server.localAddress]))
        book.recordSuccess(id: server.id, address: dead)
        #expect(book.dialOrder(for: server.id).first == dead)
        let connection = try await client.connect(to: server.id, alpn: testALPN, addressBook: book, timeout: .seconds(2))
        #expect(connection.remoteID == server.id)
        #expect(book.dialOrder(for: server.id).first == server.localAddress)
        await client.close()
        await server.close()
    }
}
