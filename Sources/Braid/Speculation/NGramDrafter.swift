// Prompt lookup (n-gram drafting, as llama.cpp's `llama-lookup` and Saxena's prompt lookup): the
// last few tokens of the text, found earlier in the prompt or the output, are likely followed by
// what followed them there. No second model: a draft costs a scan of the text, so the only price
// of a wrong guess is a few more rows in the verification forward.
//
//   text   … def area ( self ) : return self . w * self . h … def area ( self ) :
//   match                                                         └── last 3 tokens
//   earlier   def area ( self ) : │return self . w * …            → draft "return self . w …"
//
// A wrong guess is not free on a CPU, though: every drafted token is one more row of the target's
// forward. So the tree's size follows the measured acceptance α and forward costs, as the draft
// model's k does: the node budget b with the most expected tokens per millisecond,
//
//   (1 − α^(min(b, k) + 1)) / (1 − α)  /  forward of b + 1 rows
import Foundation

/// Drafts continuations of earlier occurrences of the text's last tokens, several candidates
/// merged into one tree.
public final class NGramDrafter: Drafter {
    /// Draft length when none is asked for.
    public static let defaultLength = 8
    /// Candidates verified together when not told otherwise.
    public static let defaultCandidates = 3

    public var name: String { "ngram" }
    /// Most tokens drafted per candidate.
    public let length: Int
    /// Longest and shortest suffix looked up (longest first: a longer match predicts better).
    public let longestMatch: Int, shortestMatch: Int
    /// Most distinct candidates verified together.
    public let candidates: Int
    /// Most draft tokens in one tree.
    public let nodeLimit: Int
    /// The node budgets the measured costs choose from (those up to `nodeLimit`).
    static let budgets = [1, 2, 3, 4, 6, 8, 12, 15]
    /// The budget before anything has been measured.
    static let firstBudget = 4
    /// Running estimate of the chance a draft token is accepted (after the ones before it were).
    private var acceptance = RunningAverage()
    private var costs = ForwardCosts()
    /// The node budget of the last draft.
    public private(set) var currentBudget: Int

    /// Throws for lengths below 1 or a shortest match longer than the longest.
    public init(length: Int = defaultLength, longestMatch: Int = 4, shortestMatch: Int = 2, candidates: Int = defaultCandidates, nodeLimit: Int = 15) throws {
        guard length >= 1 else { throw BraidError.invalidParameter("n-gram draft length k must be ≥ 1 (got \(length))") }
        guard shortestMatch >= 1, longestMatch >= shortestMatch else {
            throw BraidError.invalidParameter("n-gram match lengths must satisfy 1 ≤ shortest ≤ longest (got \(shortestMatch)…\(longestMatch))")
        }
        guard candidates >= 1, nodeLimit >= 1 else { throw BraidError.invalidParameter("n-gram candidates and node limit must be ≥ 1") }
        self.length = length
        self.longestMatch = longestMatch
        self.shortestMatch = shortestMatch
        self.candidates = candidates
        self.nodeLimit = nodeLimit
        currentBudget = min(nodeLimit, Self.firstBudget)
    }

    public func draft(context: [TokenID], maximumDepth: Int) throws -> DraftTree {
        var tree = DraftTree()
        currentBudget = chooseBudget()
        let nodeLimit = currentBudget, span = min(length, maximumDepth, currentBudget)
        guard span > 0 else { return tree }
        for n in stride(from: min(longestMatch, context.count - 1), through: shortestMatch, by: -1) {
            let suffix = context[(context.count - n)...]
            var found = 0
            // Most recent occurrence first; the suffix itself is not a match (nothing follows it).
            var start = context.count - n - 1
            while start >= 0 && found < candidates && tree.count < nodeLimit {
                if context[start..<start + n].elementsEqual(suffix) {
                    let continuation = Array(context[(start + n)..<min(start + n + span, context.count)])
                    let before = tree.count
                    tree.insert(path: continuation, limit: nodeLimit)
                    if tree.count > before { found += 1 }
                }
                start -= 1
            }
            if !tree.isEmpty { break }
        }
        return tree
    }

    public func observe(_ verification: Verification, tree: DraftTree, context: [TokenID]) {
        costs.record(rows: tree.count + 1, milliseconds: verification.forwardMilliseconds)
        guard let deepest = tree.depths.max().map({ $0 + 1 }) else { return }
        // Trials until the first rejection along the path taken: each accepted draft, and the
        // rejected one if the path went on.
        let accepted = Double(verification.acceptedTokens.count)
        let trials = accepted + (verification.acceptedTokens.count < deepest ? 1 : 0)
        if trials > 0 { acceptance.add(accepted / trials) }
    }

    /// The node budget with the most expected tokens per millisecond; a modest one (a single
    /// candidate's worth) until acceptance and forward costs have been measured.
    private func chooseBudget() -> Int {
        guard let acceptance = acceptance.value, costs.estimate(rows: 1) != nil else { return min(nodeLimit, Self.firstBudget) }
        var best = 1, bestRate = 0.0
        for budget in Self.budgets where budget <= nodeLimit {
            guard let cost = costs.estimate(rows: budget + 1) else { continue }
            let rate = expectedTokens(length: min(budget, length), acceptance: acceptance) / cost
            if rate > bestRate { (best, bestRate) = (budget, rate) }
        }
        return best
    }
}
