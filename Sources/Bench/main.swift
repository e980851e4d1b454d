import ArgumentParser

/// `proscenium-bench <area>`: speed and memory figures for docs/benchmarks.md. Never part of the tests.
struct ProsceniumBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proscenium-bench",
        abstract: "Benchmarks for Proscenium Node (figures go to docs/benchmarks.md).",
        subcommands: [TransportBench.self]
    )
}

// Top-level entry (not @main): with more than one file in the target, SwiftPM compiles main.swift
// as a script, where @main is not allowed.
ProsceniumBench.main()
