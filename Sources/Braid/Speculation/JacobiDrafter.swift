// Jacobi decoding (Santilli et al. 2023): greedy decoding is the fixed point of y_i = argmax
// p(· | prefix, y_<i) for every i of a block at once. Guess the block, run it through the target
// in one forward, take the target's choice at every position as the next guess, and keep the
// prefix that has stopped changing — the verifier's accepted path is exactly that prefix.
//
//   iteration   guesses after the pending token     target's choices      accepted
//   1           a  b  c  d                          a' b' c' d' e'        a = a' → 1 + the target's b'
//   2           c' d' e' …  (the rest shifts in)    …

/// Drafts the target's own outputs of the previous forward as guesses for the next positions.
public final class JacobiDrafter: Drafter {
    public var name: String { "jacobi" }
    /// Tokens per block: the pending token and `blockLength − 1` guesses.
    public let blockLength: Int
    /// Guesses for the positions after the pending token.
    private var guesses: [TokenID] = []

    /// Throws for a block shorter than 2.
    public init(blockLength: Int) throws {
        guard blockLength >= 2 else { throw BraidError.invalidParameter("Jacobi block length n must be ≥ 2 (got \(blockLength))") }
        self.blockLength = blockLength
    }

    public func draft(context: [TokenID], maximumDepth: Int) throws -> DraftTree {
        let count = min(blockLength - 1, maximumDepth)
        // Positions without a guess yet start as the pending token repeated (any guess converges).
        while guesses.count < count { guesses.append(guesses.last ?? context[context.count - 1]) }
        return DraftTree(chain: Array(guesses.prefix(count)))
    }

    public func observe(_ verification: Verification, tree: DraftTree, context: [TokenID]) {
        // The target's choices after the first rejected position: their inputs were wrong, but
        // they are the next Jacobi iterate for the positions after the new pending token.
        let accepted = verification.acceptedTokens.count
        guesses = Array(verification.targetChoices.dropFirst(accepted + 1))
    }
}
