import Foundation
import Testing
@testable import Appliance
#if canImport(Glibc)
import Glibc
#endif

@Suite("Prometheus metrics", .serialized)
struct MetricsTests {
    /// A plain HTTP/1.0 GET over loopback TCP.
    func httpGet(host: String, port: UInt16, path: String) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw POSIXError(.ECONNREFUSED) }
        _ = UnixSocket.writeAll(fd, Array("GET \(path) HTTP/1.0\r\n\r\n".utf8))
        var out: [UInt8] = [], buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    @Test func endpointServesPrometheusText() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = dir.path + "/node"
        #expect(try NodeBinary.run(["init", "--data-dir", data]).status == 0)
        let process = try NodeBinary.start(["run", "--no-console", "--data-dir", data, "--listen", "127.0.0.1:0"],
                                           environment: ["PROSCENIUM_METRICS_PROMETHEUS_LISTEN": "127.0.0.1:0"])
        defer { process.kill() }

        var url: String?
        #expect(waitUntil(seconds: 15) {
            guard let result = try? NodeBinary.run(["ctl", "--data-dir", data, "status", "--json"]), result.status == 0,
                  let object = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else { return false }
            url = object["metrics"] as? String
            return url != nil
        })
        let address = try #require(url.flatMap { HostPort(parsing: String($0.dropFirst("http://".count).dropLast("/metrics".count))) })
        let response = try httpGet(host: address.host, port: address.port, path: "/metrics")
        #expect(response.hasPrefix("HTTP/1.0 200 OK"))
        #expect(response.contains("Content-Type: text/plain; version=0.0.4"))
        #expect(response.contains("proscenium_service_up{service=\"control\"} 1"))
        #expect(response.contains("proscenium_service_up{service=\"metrics\"} 1"))
        #expect(response.contains("proscenium_service_restarts_total{service=\"transport\"} 0"))
        #expect(response.contains("proscenium_build_info{version=\"\(NodeVersion.string)\"} 1"))
        #expect(try httpGet(host: address.host, port: address.port, path: "/").hasPrefix("HTTP/1.0 404"))

        process.signal(SIGTERM)
        #expect(process.wait(seconds: 5))
        #expect(process.exitCode == 0)
    }

    @Test func textFormat() {
        let text = MetricsService.text(uptimeSeconds: 42, services: [("control", .running), ("gpio", .failed(reason: "x", retryInMillis: 1))],
                                       restarts: ["gpio": 3],
                                       gpio: GPIOSnapshot(enabled: true, chip: "c", lines: [GPIOLineState(role: "answer", offset: 17, active: true)],
                                                          leds: [], lastEvent: nil))
        #expect(text.contains("proscenium_uptime_seconds 42\n"))
        #expect(text.contains("proscenium_service_up{service=\"gpio\"} 0\n"))
        #expect(text.contains("proscenium_service_restarts_total{service=\"gpio\"} 3\n"))
        #expect(text.contains("proscenium_gpio_active{role=\"answer\",line=\"17\"} 1\n"))
        // Every sample line belongs to a declared metric family.
        let declared = Set(text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] })
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let name = line.split(whereSeparator: { $0 == "{" || $0 == " " })[0]
            #expect(declared.contains(name), "\(line)")
        }
    }
}
