// A batch: the tokens one forward pass processes, each with its own position and sequence, as
// llama.cpp's `llama_batch` (a struct of arrays). A prompt is many tokens of one sequence; a
// decoding step over several branches is one token of each sequence; both mix freely.
//
//   index      0    1    2    3    4
//   token     t0   t1   t2   u7   v9
//   position   0    1    2   12   12
//   sequence   0    0    0    1    2
//   logits     -    -    ✓    ✓    ✓
//
// A token may also store its keys and values into other sequences at the same position
// (`mirrors`): tree verification runs a draft token shared by several paths once and gives
// every path that holds it its own copy, so each path reads its keys in order, as plain decoding
// would.

/// Tokens to run through the model in one forward pass.
public struct Batch: Sendable {
    /// Token ids.
    public var tokens: [Int32] = []
    /// Position of each token in its sequence (0-based); decides its RoPE angle and which cached
    /// keys it attends to (positions 0…position of the same sequence).
    public var positions: [Int] = []
    /// The KV-cache sequence of each token.
    public var sequences: [SequenceID] = []
    /// Whether the forward pass returns logits for each token.
    public var wantsLogits: [Bool] = []
    /// Further sequences that receive each token's keys and values at its position (empty for most).
    public var mirrors: [[SequenceID]] = []
    /// Every row gets the bits it would get decoded alone, however large the batch (verification of
    /// drafts); false lets large batches (prompts) take the faster sgemm kernels.
    public var rowExact = false

    public init() {}

    /// The tokens of one sequence at consecutive positions from `start`; logits for the last only
    /// unless `allLogits`.
    public init(tokens: [Int32], startPosition start: Int, sequence: SequenceID = 0, allLogits: Bool = false) {
        for (i, token) in tokens.enumerated() {
            append(token, position: start + i, sequence: sequence, wantsLogits: allLogits || i == tokens.count - 1)
        }
    }

    /// Adds one token; `mirrors` also receive its keys and values (at the same position).
    public mutating func append(_ token: Int32, position: Int, sequence: SequenceID = 0, wantsLogits: Bool,
                                mirrors: [SequenceID] = []) {
        tokens.append(token)
        positions.append(position)
        sequences.append(sequence)
        self.wantsLogits.append(wantsLogits)
        self.mirrors.append(mirrors)
    }

    /// The batch without its last token.
    public func droppingLast() -> Batch {
        var batch = self
        batch.tokens.removeLast()
        batch.positions.removeLast()
        batch.sequences.removeLast()
        batch.wantsLogits.removeLast()
        batch.mirrors.removeLast()
        return batch
    }

    /// Number of tokens.
    public var count: Int { tokens.count }

    /// Every (sequence, position) the batch writes keys and values to: each token's own, then its mirrors'.
    var writes: [(sequence: SequenceID, position: Int, token: Int32)] {
        var writes: [(sequence: SequenceID, position: Int, token: Int32)] = []
        writes.reserveCapacity(count)
        for i in 0..<count {
            writes.append((sequences[i], positions[i], tokens[i]))
            for mirror in mirrors[i] { writes.append((mirror, positions[i], tokens[i])) }
        }
        return writes
    }

    /// Number of tokens whose logits are returned.
    public var logitCount: Int { wantsLogits.lazy.filter { $0 }.count }
}
