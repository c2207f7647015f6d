// Lookahead decoding (Fu et al. 2024): Jacobi iteration over a window of W future positions keeps
// a trajectory of N − 1 levels; every column of it is an n-gram the model would write, which goes
// into a pool. Each forward runs the lookahead branch (one more Jacobi step of the window) and
// the verification branch (up to G pooled n-grams that start with the pending token) as one tree:
//
//   pending p ─┬─ v₁ v₂          verification: n-grams from the pool, first token after p
//              ├─ w₁ w₂
//              └─ a₀ ─ a₁ ─ a₂     level 0 of the window: a chain of W guesses
//                 │    │    └ c₂   level 1 below each level-0 token (N = 3)
//                 │    └ c₁
//                 └ c₀
//
// Token (level j, column i) sits at depth i + j and sees level 0 up to column i and its own
// column's lower levels, which is the paper's attention pattern. The target's choice after it is
// the level-(j+1) guess for the next step; a column plus the choice after its last level is a new
// n-gram for the pool. The window is kept relative to the pending token.

/// Drafts pooled n-grams and advances a Jacobi window, both in one tree.
public final class LookaheadDrafter: Drafter {
    public var name: String { "lookahead" }
    /// Window width W, n-gram size N and most verified n-grams per step G.
    public let window: Int, ngramLength: Int, guesses: Int
    /// levels[j][i]: the guess of level j for column i.
    private var levels: [[TokenID]] = []
    /// Nodes of the last tree holding the window (same layout as `levels`), and that tree's size.
    private var windowNodes: [[Int]] = []
    private var draftedNodes = 0
    /// N-grams seen in the trajectory, by first token: their N − 1 following tokens, newest first.
    private var pool: [TokenID: [[TokenID]]] = [:]

    /// Throws for W < 1, N < 2 or G < 0.
    public init(window: Int, ngramLength: Int, guesses: Int) throws {
        guard window >= 1 else { throw BraidError.invalidParameter("lookahead window W must be ≥ 1 (got \(window))") }
        guard ngramLength >= 2 else { throw BraidError.invalidParameter("lookahead n-gram size N must be ≥ 2 (got \(ngramLength))") }
        guard guesses >= 0 else { throw BraidError.invalidParameter("lookahead guesses G must be ≥ 0 (got \(guesses))") }
        self.window = window
        self.ngramLength = ngramLength
        self.guesses = guesses
    }

    public func draft(context: [TokenID], maximumDepth: Int) throws -> DraftTree {
        let pending = context[context.count - 1]
        // A window not filled yet starts from the text's own recent tokens (any start converges).
        if levels.isEmpty {
            let seed = Array(context.suffix(window + ngramLength))
            levels = (0..<(ngramLength - 1)).map { level in (0..<window).map { seed[($0 + level) % seed.count] } }
        }
        var tree = DraftTree()
        for candidate in (pool[pending] ?? []).prefix(guesses) { tree.insert(path: Array(candidate.prefix(maximumDepth))) }
        windowNodes = levels.map { _ in [Int](repeating: DraftTree.root, count: window) }
        var parent = DraftTree.root
        for i in 0..<window where i < maximumDepth {
            parent = tree.add(levels[0][i], parent: parent)
            windowNodes[0][i] = parent
            var below = parent
            for j in 1..<levels.count where i + j < maximumDepth {
                below = tree.add(levels[j][i], parent: below)
                windowNodes[j][i] = below
            }
        }
        draftedNodes = tree.count
        return tree
    }

    public func observe(_ verification: Verification, tree: DraftTree, context: [TokenID]) {
        // A tree cut shorter near the end of the text no longer matches the window's node numbers.
        guard tree.count == draftedNodes else { return }
        func choice(_ node: Int) -> TokenID? { node == DraftTree.root ? nil : verification.targetChoices[node + 1] }
        // Each full column plus the target's choice after its top level is an n-gram.
        let top = levels.count - 1
        for i in 0..<window {
            guard let next = choice(windowNodes[top][i]) else { continue }
            let gram = (0...top).map { levels[$0][i] } + [next]
            var list = pool[gram[0]] ?? []
            list.removeAll { $0 == Array(gram.dropFirst()) }
            list.insert(Array(gram.dropFirst()), at: 0)
            pool[gram[0]] = Array(list.prefix(max(1, guesses) * 2))
        }
        // Slide the trajectory: levels move down one, the target's choices after the top level
        // (or after level 0 for N = 2) become the new top level.
        let newTop = (0..<window).map { choice(windowNodes[top][$0]) ?? levels[top][$0] }
        levels = Array(levels.dropFirst()) + [newTop]
    }
}
