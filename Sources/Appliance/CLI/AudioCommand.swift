import ArgumentParser
import AudioPipeline
import Core

/// `proscenium-node audio …`: checks of the sound hardware that need no running node.
struct AudioCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audio",
        abstract: "Check the sound hardware (tone out, record back).",
        subcommands: [AudioTestCommand.self]
    )
}

/// Plays a tone and records it back through the real ALSA code paths: a loopback cable, the box's
/// own speaker and microphone, or snd-aloop. Exit 0 only when the tone comes back at its frequency.
struct AudioTestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Play a tone on the output device and check that the input device records it.",
        discussion: """
        Examples:
          proscenium-node audio test                       (ALSA 'default' both ways)
          proscenium-node audio test --device plughw:1,0   (one card, both directions)
          proscenium-node audio test --output hw:Loopback,0,0 --input hw:Loopback,1,0
        Run it with the node stopped: a running node holds the sound card.
        """
    )

    @Option(help: "ALSA PCM for both directions (e.g. default, hw:1,0, plughw:CARD=seeed2micvoicec).")
    var device = "default"

    @Option(help: "ALSA PCM to play on (default: --device).")
    var output: String?

    @Option(help: "ALSA PCM to record from (default: --device).")
    var input: String?

    @Option(help: "Tone frequency in Hz.")
    var frequency: Double = 1_000

    @Option(help: "Tone length in milliseconds.")
    var milliseconds: Int = 500

    func run() throws {
        TerminationSignals.restoreDefault()
        let sink = StreamLogSink(fd: 2, minimumLevel: .warning)
        let logger = Logger(label: "audio-test", sink: sink)
        let playRing = SPSCRing<Float>(minimumCapacity: 8_192, zero: 0)
        let captureRing = SPSCRing<Float>(minimumCapacity: 65_536, zero: 0)
        let outputName = output ?? device, inputName = input ?? device
        let playback = AudioStream(direction: .playback, ring: playRing, logger: logger) {
            try ALSADevice(name: outputName, direction: .playback)
        }
        let capture = AudioStream(direction: .capture, ring: captureRing, logger: logger) {
            try ALSADevice(name: inputName, direction: .capture)
        }
        // Capture first: a loopback discards what is played before anyone records.
        do { try capture.start() } catch { throw CommandFailure("cannot open input '\(inputName)': \(error)") }
        do { try playback.start() } catch {
            capture.stop()
            throw CommandFailure("cannot open output '\(outputName)': \(error)")
        }
        let report = AudioSelfTest.loopback(playbackRing: playRing, captureRing: captureRing,
                                            frequency: frequency, durationMillis: milliseconds)
        playback.stop()
        capture.stop()
        print("audio test: out \(outputName) → in \(inputName): \(report)")
        guard report.toneDetected, abs(report.frequencyHz - frequency) <= frequency * 0.02 else {
            throw CommandFailure("the \(Int(frequency)) Hz tone did not come back (\(report))")
        }
    }
}
