import Core
#if canImport(Glibc)
import Glibc
#endif

/// Where the node keeps its files, and the permissions they need.
enum DataDirectory {
    /// --data-dir, else $PROSCENIUM_DATA_DIR, else node.data_dir of the configuration, else
    /// ~/.local/share/proscenium. The configuration is read only when needed (and ignored if broken:
    /// `run` reports configuration errors itself).
    static func resolve(flag: String?, environment: [String: String], configPath: String?) -> String {
        choose(flag: flag, environment: environment) {
            (try? ConfigLoader(environment: environment).load(explicitPath: configPath, flags: []).dataDirectory) ?? ""
        }
    }

    static func choose(flag: String?, environment: [String: String], configured: () -> String) -> String {
        if let flag, !flag.isEmpty { return flag }
        if let fromEnv = environment["PROSCENIUM_DATA_DIR"], !fromEnv.isEmpty { return fromEnv }
        let fromConfig = configured()
        if !fromConfig.isEmpty { return fromConfig }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "/root"
        return home + "/.local/share/proscenium"
    }

    /// Creates `path` (and parents) and makes it 0700: it holds the master key.
    static func prepare(_ path: String) throws -> String {
        var built = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            built += "/" + component
            if mkdir(built, 0o700) != 0 && errno != EEXIST {
                throw CommandFailure("cannot create \(built): \(String(cString: strerror(errno)))")
            }
        }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw CommandFailure("\(path) is not a directory")
        }
        if info.st_mode & 0o077 != 0 && chmod(path, 0o700) != 0 {
            throw CommandFailure("cannot restrict \(path) to mode 0700: \(String(cString: strerror(errno)))")
        }
        return path
    }

    static func controlSocketPath(_ dataDirectory: String) -> String { dataDirectory + "/control.sock" }
}
