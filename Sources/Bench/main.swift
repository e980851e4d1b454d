import ArgumentParser

/// `proscenium-bench <area>`: speed and memory figures for docs/benchmarks.md. Never part of the tests.
struct ProsceniumBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proscenium-bench",
        abstract: "Benchmarks for Proscenium Node (figures go to docs/benchmarks.md).",
        subcommands: [CryptoBench.self, AudioBench.self, TransportBench.self, DMBench.self, RelayBench.self, GossipBench.self]
    )
}

// Top-level call rather than @main: a module with a file named main.swift cannot use @main once it has
// more than one source file.
ProsceniumBench.main()
