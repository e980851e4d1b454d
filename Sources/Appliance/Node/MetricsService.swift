import Core
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A Prometheus text-format endpoint (`GET /metrics`) on `metrics.prometheus_listen`. Deliberately
/// tiny: one thread, one request per connection, HTTP/1.0 answers.
actor MetricsService: Service {
    nonisolated let name = "metrics"
    private let listen: HostPort
    private let render: @Sendable () async -> String
    private let logger: Logger
    private let state: NodeState
    private var listener: Int32 = -1
    private var wakeWrite: Int32 = -1

    init(listen: HostPort, state: NodeState, logger: Logger, render: @escaping @Sendable () async -> String) {
        self.listen = listen
        self.state = state
        self.render = render
        self.logger = logger
    }

    func start() async throws {
        let fd = try InetSocket.bind(listen, type: Int32(SOCK_STREAM.rawValue))
        guard Glibc.listen(fd, 8) == 0 else {
            close(fd)
            throw AdminCommandError("listen on \(listen): \(String(cString: strerror(errno)))")
        }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            close(fd)
            throw AdminCommandError("pipe: \(String(cString: strerror(errno)))")
        }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        listener = fd
        wakeWrite = fds[1]
        let wakeRead = fds[0], render = self.render
        let thread = Thread { MetricsService.serve(listener: fd, wake: wakeRead, render: render) }
        thread.name = "metrics"
        thread.start()
        let address = SocketAddressText.local(of: fd) ?? listen.description
        await state.setMetricsAddress(address)
        logger.info("Prometheus metrics on http://\(address)/metrics")
    }

    func stop() async {
        await state.setMetricsAddress(nil)
        if wakeWrite >= 0 {
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)
            close(wakeWrite)
        }
        wakeWrite = -1
        listener = -1
    }

    private static func serve(listener: Int32, wake: Int32, render: @escaping @Sendable () async -> String) {
        defer {
            close(listener)
            close(wake)
        }
        var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0), pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
        while true {
            fds[0].revents = 0
            fds[1].revents = 0
            if poll(&fds, 2, -1) < 0 { if errno == EINTR { continue }; return }
            if fds[1].revents != 0 { return }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var reader = LineReader(fd: client)
            let requestLine = reader.nextLine() ?? ""
            let parts = requestLine.split(separator: " ")
            let response: String
            if parts.count >= 2, parts[0] == "GET", parts[1] == "/metrics" || parts[1].hasPrefix("/metrics?") {
                let body = BlockingAsync.run { await render() }
                response = "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
            } else {
                let body = "only GET /metrics is served here\n"
                response = "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
            }
            _ = UnixSocket.writeAll(client, Array(response.utf8))
            close(client)
        }
    }

    /// The node's metrics in Prometheus text format.
    static func text(uptimeSeconds: UInt64, services: [(name: String, state: ServiceState)], restarts: [String: Int],
                     gpio: GPIOSnapshot, relay: StageRelayNodeService.Status? = nil) -> String {
        var lines = [
            "# HELP proscenium_build_info Version of this node.", "# TYPE proscenium_build_info gauge",
            "proscenium_build_info{version=\"\(NodeVersion.string)\"} 1",
            "# HELP proscenium_uptime_seconds Seconds since the node started.", "# TYPE proscenium_uptime_seconds gauge",
            "proscenium_uptime_seconds \(uptimeSeconds)",
            "# HELP proscenium_service_up 1 while a service runs.", "# TYPE proscenium_service_up gauge"
        ]
        for service in services {
            lines.append("proscenium_service_up{service=\"\(service.name)\"} \(service.state == .running ? 1 : 0)")
        }
        lines += ["# HELP proscenium_service_restarts_total Restarts after failures.", "# TYPE proscenium_service_restarts_total counter"]
        for service in services {
            lines.append("proscenium_service_restarts_total{service=\"\(service.name)\"} \(restarts[service.name] ?? 0)")
        }
        lines += ["# HELP proscenium_peers_connected Connected peers (placeholder until the transport is merged).",
                  "# TYPE proscenium_peers_connected gauge", "proscenium_peers_connected 0"]
        if gpio.enabled {
            lines += ["# HELP proscenium_gpio_active 1 while a button is pressed or an LED is lit.", "# TYPE proscenium_gpio_active gauge"]
            for line in gpio.lines + gpio.leds {
                lines.append("proscenium_gpio_active{role=\"\(line.role)\",line=\"\(line.offset)\"} \(line.active ? 1 : 0)")
            }
        }
        if let relay {
            let m = relay.metrics
            func metric(_ name: String, _ type: String, _ help: String, _ value: UInt64) {
                lines += ["# HELP proscenium_relay_\(name) \(help)", "# TYPE proscenium_relay_\(name) \(type)", "proscenium_relay_\(name) \(value)"]
            }
            metric("active", "gauge", "1 while this node relays a Stage.", relay.stageID == nil ? 0 : 1)
            metric("listeners", "gauge", "Listeners served by the relay.", UInt64(m?.listeners ?? 0))
            metric("max_listeners", "gauge", "Configured listener capacity.", UInt64(relay.maxListeners))
            metric("frames_in_total", "counter", "Frames received from the host.", m?.framesIn ?? 0)
            metric("frames_forwarded_total", "counter", "Frames written to listeners.", m?.framesForwarded ?? 0)
            metric("frames_dropped_total", "counter", "Frames dropped for slow listeners.", m?.framesDropped ?? 0)
            metric("bytes_forwarded_total", "counter", "Bytes written to listeners.", m?.bytesForwarded ?? 0)
            metric("listeners_refused_total", "counter", "Listeners refused by the capacity guard.", m?.listenersRefused ?? 0)
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
