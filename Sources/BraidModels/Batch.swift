// A batch: the tokens one forward pass processes, each with its own position and sequence, as
// llama.cpp's `llama_batch` (a struct of arrays). A prompt is many tokens of one sequence; a
// decoding step over several branches is one token of each sequence; both mix freely.
//
//   index      0    1    2    3    4
//   token     t0   t1   t2   u7   v9
//   position   0    1    2   12   12
//   sequence   0    0    0    1    2
//   logits     -    -    ✓    ✓    ✓

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

    public init() {}

    /// The tokens of one sequence at consecutive positions from `start`; logits for the last only
    /// unless `allLogits`.
    public init(tokens: [Int32], startPosition start: Int, sequence: SequenceID = 0, allLogits: Bool = false) {
        for (i, token) in tokens.enumerated() {
            append(token, position: start + i, sequence: sequence, wantsLogits: allLogits || i == tokens.count - 1)
        }
    }

    /// Adds one token.
    public mutating func append(_ token: Int32, position: Int, sequence: SequenceID = 0, wantsLogits: Bool) {
        tokens.append(token)
        positions.append(position)
        sequences.append(sequence)
        self.wantsLogits.append(wantsLogits)
    }

    /// The batch without its last token.
    public func droppingLast() -> Batch {
        var batch = self
        batch.tokens.removeLast()
        batch.positions.removeLast()
        batch.sequences.removeLast()
        batch.wantsLogits.removeLast()
        return batch
    }

    /// Number of tokens.
    public var count: Int { tokens.count }

    /// Number of tokens whose logits are returned.
    public var logitCount: Int { wantsLogits.lazy.filter { $0 }.count }
}
