// What drafters propose and what verification tells them. A draft is a tree of tokens hanging
// from the pending token (the last token chosen, which the target has not run yet); a chain is a
// tree with one path. Verification walks the tree along the target's own choices and reports the
// accepted path and what the target chose at every node, which Jacobi and lookahead feed on.

/// Draft tokens proposed to follow the pending token, as a tree whose nodes come after their
/// parents (node order is topological). A parent of `DraftTree.root` hangs a node from the
/// pending token itself.
public struct DraftTree: Sendable {
    /// The parent of nodes that follow the pending token directly.
    public static let root = -1

    /// Token of each node.
    public private(set) var tokens: [TokenID] = []
    /// Parent of each node (an earlier node, or `root`).
    public private(set) var parents: [Int] = []
    /// The distribution each node was drawn from, for speculative sampling (nil: proposed
    /// deterministically, as n-grams and greedy drafts are; sampling treats it as certain).
    public private(set) var proposals: [TokenDistribution?] = []
    /// Depth of each node: 0 for a child of the pending token.
    public private(set) var depths: [Int] = []

    public init() {}

    /// A chain of tokens below the pending token.
    public init(chain: [TokenID]) {
        var parent = Self.root
        for token in chain { parent = add(token, parent: parent) }
    }

    /// Number of draft nodes.
    public var count: Int { tokens.count }

    /// Whether nothing is proposed.
    public var isEmpty: Bool { tokens.isEmpty }

    /// Adds a node below `parent` (`root` or an existing node) and returns its index.
    @discardableResult
    public mutating func add(_ token: TokenID, parent: Int, proposal: TokenDistribution? = nil) -> Int {
        precondition(parent >= Self.root && parent < count, "a parent comes before its children")
        tokens.append(token)
        parents.append(parent)
        proposals.append(proposal)
        depths.append(parent == Self.root ? 0 : depths[parent] + 1)
        return count - 1
    }

    /// Adds `path` below the pending token, sharing the nodes of a path already there with the
    /// same first tokens (a trie), as far as `limit` nodes in all; returns how many tokens of
    /// `path` are in the tree afterwards.
    @discardableResult
    public mutating func insert(path: [TokenID], limit: Int = .max) -> Int {
        var parent = Self.root
        for (depth, token) in path.enumerated() {
            if let existing = children(of: parent).first(where: { tokens[$0] == token }) {
                parent = existing
            } else {
                guard count < limit else { return depth }
                parent = add(token, parent: parent)
            }
        }
        return path.count
    }

    /// How many of `tokens`, from the first, lie along one path from the pending token.
    public func matchedLength(of tokens: [TokenID]) -> Int {
        var node = Self.root, length = 0
        for token in tokens {
            guard let child = children(of: node).first(where: { self.tokens[$0] == token }) else { break }
            (node, length) = (child, length + 1)
        }
        return length
    }

    /// Nodes whose parent is `node` (`root` for the first level), in order.
    public func children(of node: Int) -> [Int] {
        parents.indices.filter { parents[$0] == node }
    }

    /// The tokens from the pending token down to `node` (excluded the pending token).
    public func path(to node: Int) -> [TokenID] {
        var path: [TokenID] = []
        var current = node
        while current != Self.root {
            path.append(tokens[current])
            current = parents[current]
        }
        return path.reversed()
    }

    /// The nodes at depth below `maximumDepth` (still a tree: a node's parent comes before it).
    public func pruned(maximumDepth: Int) -> DraftTree {
        var tree = DraftTree()
        var index = [Int](repeating: Self.root, count: count)
        for node in 0..<count where depths[node] < maximumDepth {
            let parent = parents[node]
            guard parent == Self.root || index[parent] != Self.root else { continue }
            index[node] = tree.add(tokens[node], parent: parent == Self.root ? Self.root : index[parent], proposal: proposals[node])
        }
        return tree
    }
}

/// What one verification forward decided.
public struct Verification: Sendable {
    /// Draft nodes accepted, from the pending token down.
    public var acceptedNodes: [Int]
    /// Their tokens.
    public var acceptedTokens: [TokenID]
    /// The target's own token after the accepted path: the next pending token.
    public var next: TokenID
    /// The target's most likely token after the pending token (index 0) and after each draft node
    /// (index node + 1), accepted or not: the guesses Jacobi and lookahead refine.
    public var targetChoices: [TokenID]
    /// Time the drafter took to propose the tree.
    public var draftMilliseconds: Double = 0
    /// Time of the verification forward.
    public var forwardMilliseconds: Double = 0

    /// Tokens the forward produced: the accepted drafts and the target's own.
    public var produced: [TokenID] { acceptedTokens + [next] }
    /// How many tokens the forward produced.
    public var producedTokens: Int { acceptedTokens.count + 1 }
}

/// Proposes draft tokens for the tree verifier. Implementations: a smaller model
/// (`DraftModelDrafter`), earlier n-grams of the text (`NGramDrafter`), Jacobi iteration
/// (`JacobiDrafter`), lookahead (`LookaheadDrafter`).
public protocol Drafter: AnyObject {
    /// Short name for reports: "draft", "ngram", "jacobi", "lookahead".
    var name: String { get }
    /// A tree of tokens to follow `context` (every token so far: prompt, output, and last the
    /// pending token, which the target has not run yet), no deeper than `maximumDepth` levels.
    func draft(context: [TokenID], maximumDepth: Int) throws -> DraftTree
    /// The outcome of verifying the last draft; `context` now ends with the new pending token.
    func observe(_ verification: Verification, tree: DraftTree, context: [TokenID])
    /// Time the last draft spent catching up on text it had not seen (a draft model's forward over
    /// the prompt, or over tokens decoded while it was not drafting): a cost of switching to this
    /// drafter, not of drafting with it.
    var catchUpMilliseconds: Double { get }
    /// Whether asking for a draft costs next to nothing and leaves no state behind (a lookup in
    /// the text, as n-grams are): `auto` may then ask it at every step and use its draft only
    /// when it finds one.
    var isLookup: Bool { get }
    /// Tokens per millisecond the last draft is expected to give by the drafter's own
    /// measurements, or nil when it has none.
    var expectedTokensPerMillisecond: Double? { get }
    /// The tokens a step produced (accepted drafts and the target's own) when the last draft
    /// was not verified because `auto` used another option: a lookup learns from them what its
    /// draft would have got.
    func observeUnverified(produced: [TokenID])
}

extension Drafter {
    public var catchUpMilliseconds: Double { 0 }
    public var isLookup: Bool { false }
    public var expectedTokensPerMillisecond: Double? { nil }
    public func observeUnverified(produced: [TokenID]) {}
}
