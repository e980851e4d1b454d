import ArgumentParser
import Core
import Foundation

struct IdentityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identity",
        abstract: "Print this node's public keys and connection ticket (works while the node is stopped)."
    )

    @OptionGroup var data: DataDirectoryOption

    @Flag(help: "Print JSON: master_pubkey, signing_pubkey, transport_id, dm_pubkey (lowercase hex), ticket, key indices.")
    var json = false

    func run() throws {
        TerminationSignals.restoreDefault()
        let directory = data.resolve()
        let store = IdentityStore(directory: directory)
        guard store.exists else { throw CommandFailure("no identity in \(directory); run `proscenium-node init` first") }
        let report = IdentityReport(identity: try store.load(), addresses: [])
        print(json ? JSONText.encode(report.json) : report.text)
    }
}

/// The public part of an identity, as `identity` and the control command of the same name show it.
struct IdentityReport {
    let masterPublicKey: String
    let signingPublicKey: String
    let signingKeyIndex: UInt32
    let transportID: String
    let dmPublicKey: String
    let dmKeyIndex: UInt32
    let ticket: String

    init(identity: NodeIdentity, addresses: [String]) {
        masterPublicKey = identity.masterPublicKey.hex
        signingPublicKey = identity.signingKey.publicKey.hex
        signingKeyIndex = identity.signingKeyIndex
        transportID = identity.transportID.hex
        dmPublicKey = identity.dmKey.publicKey.hex
        dmKeyIndex = identity.dmKeyIndex
        ticket = endpointTicket(for: identity.transportID, addresses: addresses)
    }

    var json: [String: Any] {
        ["master_pubkey": masterPublicKey, "signing_pubkey": signingPublicKey, "signing_key_index": Int(signingKeyIndex),
         "transport_id": transportID, "dm_pubkey": dmPublicKey, "dm_key_index": Int(dmKeyIndex), "ticket": ticket]
    }

    /// Labels are 12 columns so the 64-character keys fit 80 columns; the ticket keeps its own length.
    var text: String {
        [("master", masterPublicKey), ("signing #\(signingKeyIndex)", signingPublicKey), ("transport", transportID),
         ("DM key #\(dmKeyIndex)", dmPublicKey), ("ticket", ticket)]
            .map { $0.0.padded(to: 12) + $0.1 }
            .joined(separator: "\n")
    }
}

/// Compact, key-sorted JSON text for one-line protocol messages and `--json` output.
enum JSONText {
    static func encode(_ object: Any) -> String {
        guard JSONSerialization.isValidJSONObject(object),
              let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return "{}"
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func decodeObject(_ text: String) -> [String: Any]? {
        guard let data = text.data(using: .utf8) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }
}
