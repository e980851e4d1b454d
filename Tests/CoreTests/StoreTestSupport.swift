import Foundation
import Synchronization
@testable import Core

/// A clock frozen at a known instant, so `schema_migrations.applied_at` is checkable.
struct FixedClock: WallClock {
    let millis: UInt64
    func nowMillis() -> UInt64 { millis }
}

/// A fresh directory under the system temp dir, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init(_ label: String) throws {
        let base = FileManager.default.temporaryDirectory.path
        path = base + "/proscenium-\(label)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

struct ExpectedFailure: Error, Equatable {
    let reason: String
}

/// Runs `body` and returns the `StoreError` it throws (Swift 6.0's `#expect(throws:)` does not
/// return the error); nil when it does not throw or throws something else.
func storeError(_ body: () throws -> Void) -> StoreError? {
    do {
        try body()
        return nil
    } catch let error as StoreError {
        return error
    } catch {
        return nil
    }
}

/// Collects an error description from a background thread.
final class FailureBox: Sendable {
    private let value = Mutex<String?>(nil)
    func record(_ text: String) { value.withLock { $0 = text } }
    var recorded: String? { value.withLock { $0 } }
}
