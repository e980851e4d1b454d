import Foundation

/// Finds executables SwiftPM built alongside the test bundle (test tools, `proscenium-node`).
/// Bundle APIs are deliberately not used: they crash in Debian's Swift 6.0.3 Foundation.
public enum BuiltProducts {
    /// `name` from the environment variable `override` if set, else next to the running test binary.
    public static func locate(_ name: String, override: String? = nil) -> String? {
        var candidates: [String] = []
        if let override, let path = ProcessInfo.processInfo.environment[override] { candidates.append(path) }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append((exe as NSString).deletingLastPathComponent + "/" + name)
        }
        if let argument0 = CommandLine.arguments.first {
            let absolute = argument0.hasPrefix("/") ? argument0 : FileManager.default.currentDirectoryPath + "/" + argument0
            candidates.append((absolute as NSString).deletingLastPathComponent + "/" + name)
        }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
