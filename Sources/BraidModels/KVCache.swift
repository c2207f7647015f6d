// Keys and values of past tokens, per layer and sequence, stored at their positions:
//
//   keys[layer]   : (sequenceCount, capacity, kvHeadCount·headDim)   Float
//   values[layer] : (sequenceCount, capacity, kvHeadCount·headDim)   Float
//
// A contiguous cache with a fixed number of sequence slots; the paged, shared-prefix cache of
// the branching work replaces it behind the same role.

/// The attention key/value cache of a model.
public final class KVCache {
    /// Positions each sequence can hold (the context length).
    public let capacity: Int
    /// Number of independent sequences.
    public let sequenceCount: Int
    let layerCount: Int
    let kvDimension: Int
    private let keyStorage: UnsafeMutablePointer<Float>
    private let valueStorage: UnsafeMutablePointer<Float>
    /// Number of positions each sequence has filled (the next position to write).
    public private(set) var lengths: [Int]

    /// A cache for `sequenceCount` sequences of up to `capacity` tokens.
    public init(configuration: ModelConfiguration, capacity: Int, sequenceCount: Int = 1) {
        precondition(capacity > 0 && sequenceCount > 0, "a cache holds at least one position of one sequence")
        self.capacity = capacity
        self.sequenceCount = sequenceCount
        layerCount = configuration.layerCount
        kvDimension = configuration.kvDimension
        let total = layerCount * sequenceCount * capacity * kvDimension
        keyStorage = .allocate(capacity: total)
        valueStorage = .allocate(capacity: total)
        lengths = Array(repeating: 0, count: sequenceCount)
    }

    deinit {
        keyStorage.deallocate()
        valueStorage.deallocate()
    }

    /// Bytes of key and value storage.
    public var byteCount: Int { 2 * layerCount * sequenceCount * capacity * kvDimension * MemoryLayout<Float>.size }

    /// Keys of `sequence` in `layer`, position-major.
    func keys(layer: Int, sequence: Int) -> UnsafeMutablePointer<Float> {
        keyStorage + ((layer * sequenceCount + sequence) * capacity) * kvDimension
    }

    /// Values of `sequence` in `layer`, position-major.
    func values(layer: Int, sequence: Int) -> UnsafeMutablePointer<Float> {
        valueStorage + ((layer * sequenceCount + sequence) * capacity) * kvDimension
    }

    /// Records that `sequence` now holds positions up to `position`.
    func didWrite(sequence: Int, position: Int) {
        lengths[sequence] = max(lengths[sequence], position + 1)
    }

    /// Forgets everything `sequence` holds from `position` on (to re-run or roll back): the next
    /// token of the sequence goes at `position`, and no later entry is read again before it is
    /// rewritten.
    public func truncate(sequence: Int, to position: Int) {
        lengths[sequence] = min(lengths[sequence], max(0, position))
    }

    /// Forgets every sequence.
    public func clear() {
        lengths = Array(repeating: 0, count: sequenceCount)
    }
}
