import ArgumentParser

/// `proscenium-bench <area>`: speed and memory figures for docs/benchmarks.md. Never part of the tests.
@main
struct ProsceniumBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proscenium-bench",
        abstract: "Benchmarks for Proscenium Node (figures go to docs/benchmarks.md).",
        subcommands: [AudioBench.self]
    )
}
