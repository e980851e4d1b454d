import Synchronization

/// Lock-free single-producer/single-consumer ring of trivially copyable elements (PCM samples).
///
/// One thread may call the `write*` methods and one other thread the `read*` methods; the
/// real-time audio threads talk to the rest of the node only through these rings. Storage is
/// allocated once in `init`; no method allocates, locks or blocks afterwards.
///
/// `writeIndex`/`readIndex` count elements ever written/read (they never wrap on 64-bit in
/// practice); the producer publishes with a release store of `writeIndex` after copying, and the
/// consumer acquires it before copying out, so element contents are visible before the index.
public final class SPSCRing<Element: BitwiseCopyable>: @unchecked Sendable {
    public let capacity: Int
    private let mask: Int
    private let storage: UnsafeMutablePointer<Element>
    private let writeIndex = Atomic<Int>(0)
    private let readIndex = Atomic<Int>(0)

    /// `minimumCapacity` is rounded up to a power of two.
    public init(minimumCapacity: Int, zero: Element) {
        precondition(minimumCapacity > 0, "SPSCRing capacity must be positive, got \(minimumCapacity)")
        var size = 1
        while size < minimumCapacity { size <<= 1 }
        capacity = size
        mask = size - 1
        storage = UnsafeMutablePointer<Element>.allocate(capacity: size)
        storage.initialize(repeating: zero, count: size)
    }

    deinit { storage.deallocate() }

    /// Elements the consumer can read now.
    public var availableToRead: Int {
        writeIndex.load(ordering: .acquiring) - readIndex.load(ordering: .acquiring)
    }

    /// Free slots the producer can write now.
    public var availableToWrite: Int { capacity - availableToRead }

    /// Producer: copies as many of `elements` as fit; returns how many were written.
    @discardableResult
    public func write(_ elements: UnsafeBufferPointer<Element>) -> Int {
        let w = writeIndex.load(ordering: .relaxed)
        let r = readIndex.load(ordering: .acquiring)
        let count = min(elements.count, capacity - (w - r))
        guard count > 0, let base = elements.baseAddress else { return 0 }
        let start = w & mask
        let firstPart = min(count, capacity - start)
        (storage + start).update(from: base, count: firstPart)
        if count > firstPart { storage.update(from: base + firstPart, count: count - firstPart) }
        writeIndex.store(w + count, ordering: .releasing)
        return count
    }

    /// Producer convenience for arrays (the array itself is not retained).
    @discardableResult
    public func write(_ elements: [Element]) -> Int {
        elements.withUnsafeBufferPointer { write($0) }
    }

    /// Consumer: copies up to `destination.count` elements out; returns how many were read.
    @discardableResult
    public func read(into destination: UnsafeMutableBufferPointer<Element>) -> Int {
        let r = readIndex.load(ordering: .relaxed)
        let w = writeIndex.load(ordering: .acquiring)
        let count = min(destination.count, w - r)
        guard count > 0, let base = destination.baseAddress else { return 0 }
        let start = r & mask
        let firstPart = min(count, capacity - start)
        base.update(from: storage + start, count: firstPart)
        if count > firstPart { (base + firstPart).update(from: storage, count: count - firstPart) }
        readIndex.store(r + count, ordering: .releasing)
        return count
    }

    /// Consumer: discards up to `count` elements (used to drop stale audio); returns how many.
    @discardableResult
    public func skip(_ count: Int) -> Int {
        let r = readIndex.load(ordering: .relaxed)
        let w = writeIndex.load(ordering: .acquiring)
        let n = min(count, w - r)
        if n > 0 { readIndex.store(r + n, ordering: .releasing) }
        return max(n, 0)
    }
}

/// Lock-free SPSC queue of variable-length byte frames up to a fixed maximum size (encoded Opus
/// packets, wire frames). Each slot holds a length and `maxFrameBytes` bytes; all slots are
/// allocated in `init`.
public final class SPSCFrameRing: @unchecked Sendable {
    public let slotCount: Int
    public let maxFrameBytes: Int
    private let mask: Int
    private let bytes: UnsafeMutableRawPointer
    private let lengths: UnsafeMutablePointer<Int>
    private let writeIndex = Atomic<Int>(0)
    private let readIndex = Atomic<Int>(0)

    /// `minimumSlots` is rounded up to a power of two.
    public init(minimumSlots: Int, maxFrameBytes: Int) {
        precondition(minimumSlots > 0 && maxFrameBytes > 0,
                     "SPSCFrameRing needs positive sizes, got \(minimumSlots) slots of \(maxFrameBytes) bytes")
        var size = 1
        while size < minimumSlots { size <<= 1 }
        slotCount = size
        mask = size - 1
        self.maxFrameBytes = maxFrameBytes
        bytes = UnsafeMutableRawPointer.allocate(byteCount: size * maxFrameBytes, alignment: 16)
        bytes.initializeMemory(as: UInt8.self, repeating: 0, count: size * maxFrameBytes)
        lengths = UnsafeMutablePointer<Int>.allocate(capacity: size)
        lengths.initialize(repeating: 0, count: size)
    }

    deinit {
        bytes.deallocate()
        lengths.deallocate()
    }

    public var count: Int { writeIndex.load(ordering: .acquiring) - readIndex.load(ordering: .acquiring) }

    /// Producer: enqueues one frame. Returns false when the ring is full or the frame is larger
    /// than `maxFrameBytes` (the caller counts that as a drop).
    @discardableResult
    public func push(_ frame: UnsafeRawBufferPointer) -> Bool {
        guard frame.count <= maxFrameBytes else { return false }
        let w = writeIndex.load(ordering: .relaxed)
        let r = readIndex.load(ordering: .acquiring)
        guard w - r < slotCount else { return false }
        let slot = w & mask
        if let src = frame.baseAddress, frame.count > 0 {
            (bytes + slot * maxFrameBytes).copyMemory(from: src, byteCount: frame.count)
        }
        lengths[slot] = frame.count
        writeIndex.store(w + 1, ordering: .releasing)
        return true
    }

    @discardableResult
    public func push(_ frame: [UInt8]) -> Bool {
        frame.withUnsafeBytes { push($0) }
    }

    /// Consumer: dequeues one frame into `destination`; returns its length, or nil when empty.
    /// A frame longer than `destination` is truncated to it.
    public func pop(into destination: UnsafeMutableRawBufferPointer) -> Int? {
        let r = readIndex.load(ordering: .relaxed)
        let w = writeIndex.load(ordering: .acquiring)
        guard w - r > 0 else { return nil }
        let slot = r & mask
        let length = min(lengths[slot], destination.count)
        if length > 0, let dst = destination.baseAddress {
            dst.copyMemory(from: bytes + slot * maxFrameBytes, byteCount: length)
        }
        readIndex.store(r + 1, ordering: .releasing)
        return length
    }

    /// Consumer convenience that allocates the result (not for real-time threads).
    public func pop() -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: maxFrameBytes)
        let n = out.withUnsafeMutableBytes { pop(into: $0) }
        guard let n else { return nil }
        out.removeSubrange(n...)
        return out
    }
}
