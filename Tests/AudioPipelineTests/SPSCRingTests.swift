import Testing
import Foundation
@testable import AudioPipeline

@Suite("SPSCRing")
struct SPSCRingTests {
    @Test func roundsCapacityAndWrapsAround() {
        let ring = SPSCRing<Int16>(minimumCapacity: 5, zero: 0)
        #expect(ring.capacity == 8)
        var out = [Int16](repeating: 0, count: 8)
        for round in 0..<10 {
            let values = (0..<6).map { Int16(round * 10 + $0) }
            #expect(ring.write(values) == 6)
            let n = out.withUnsafeMutableBufferPointer { ring.read(into: $0) }
            #expect(n == 6)
            #expect(Array(out[0..<6]) == values)
        }
    }

    @Test func refusesOverflowAndReportsCounts() {
        let ring = SPSCRing<Float>(minimumCapacity: 4, zero: 0)
        #expect(ring.write([1, 2, 3]) == 3)
        #expect(ring.write([4, 5, 6]) == 1)
        #expect(ring.availableToRead == 4)
        #expect(ring.availableToWrite == 0)
        #expect(ring.skip(2) == 2)
        var out = [Float](repeating: 0, count: 4)
        #expect(out.withUnsafeMutableBufferPointer { ring.read(into: $0) } == 2)
        #expect(Array(out[0..<2]) == [3, 4])
        #expect(out.withUnsafeMutableBufferPointer { ring.read(into: $0) } == 0)
    }

    @Test func frameRingKeepsFrameBoundaries() {
        let ring = SPSCFrameRing(minimumSlots: 2, maxFrameBytes: 8)
        #expect(ring.push([1, 2, 3]))
        #expect(ring.push([]))
        #expect(!ring.push([9]))              // full
        #expect(ring.pop() == [1, 2, 3])
        #expect(!ring.push([UInt8](repeating: 7, count: 9)))  // larger than a slot
        #expect(ring.push([4, 5, 6, 7, 8, 9, 10, 11]))
        #expect(ring.pop() == [])
        #expect(ring.pop() == [4, 5, 6, 7, 8, 9, 10, 11])
        #expect(ring.pop() == nil)
    }

    /// A producer thread writes a counting sequence in odd-sized chunks while a consumer thread
    /// reads in other odd sizes; every value must arrive once, in order.
    @Test func twoThreadStressKeepsOrderAndIntegrity() async throws {
        let ring = SPSCRing<Int32>(minimumCapacity: 256, zero: 0)
        let total = 2_000_000
        let producer = Thread {
            var next: Int32 = 0
            var chunk = [Int32](repeating: 0, count: 37)
            while Int(next) < total {
                let n = min(chunk.count, total - Int(next))
                for i in 0..<n { chunk[i] = next + Int32(i) }
                let written = chunk.withUnsafeBufferPointer { ring.write(UnsafeBufferPointer(rebasing: $0[0..<n])) }
                next += Int32(written)
                if written == 0 { sched_yield() }
            }
        }
        let result = ConsumerResult()
        let done = DispatchSemaphore(value: 0)
        let consumer = Thread {
            var expected: Int32 = 0
            var errors = 0
            var buf = [Int32](repeating: 0, count: 53)
            while Int(expected) < total {
                let n = buf.withUnsafeMutableBufferPointer { ring.read(into: $0) }
                if n == 0 { sched_yield(); continue }
                for i in 0..<n where buf[i] != expected + Int32(i) { errors += 1 }
                expected += Int32(n)
            }
            result.set(received: Int(expected), errors: errors)
            done.signal()
        }
        consumer.start()
        producer.start()
        done.wait()
        #expect(result.received == total)
        #expect(result.errors == 0)
        #expect(ring.availableToRead == 0)
    }

    @Test func frameRingTwoThreadStress() {
        let ring = SPSCFrameRing(minimumSlots: 8, maxFrameBytes: 64)
        let total = 200_000
        let producer = Thread {
            var i = 0
            while i < total {
                let len = i % 64
                var frame = [UInt8](repeating: 0, count: len)
                for j in 0..<len { frame[j] = UInt8(truncatingIfNeeded: i &+ j) }
                if ring.push(frame) { i += 1 } else { sched_yield() }
            }
        }
        let result = ConsumerResult()
        let done = DispatchSemaphore(value: 0)
        let consumer = Thread {
            var i = 0, errors = 0
            var buf = [UInt8](repeating: 0, count: 64)
            while i < total {
                guard let n = buf.withUnsafeMutableBytes({ ring.pop(into: $0) }) else { sched_yield(); continue }
                if n != i % 64 { errors += 1 }
                for j in 0..<n where buf[j] != UInt8(truncatingIfNeeded: i &+ j) { errors += 1 }
                i += 1
            }
            result.set(received: i, errors: errors)
            done.signal()
        }
        consumer.start()
        producer.start()
        done.wait()
        #expect(result.received == total)
        #expect(result.errors == 0)
    }
}

final class ConsumerResult: @unchecked Sendable {
    private let lock = NSLock()
    private var _received = 0
    private var _errors = 0
    func set(received: Int, errors: Int) { lock.lock(); _received = received; _errors = errors; lock.unlock() }
    var received: Int { lock.lock(); defer { lock.unlock() }; return _received }
    var errors: Int { lock.lock(); defer { lock.unlock() }; return _errors }
}
