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
// forward. So the tree's size follows the acceptance α measured for matches of the same length (a
// 4-token match in code being copied is far surer than a 2-token one in prose) and the forward
// costs, as the draft model's k does: the node budget b with the most expected tokens per
// millisecond,
//
//   (1 − α^(min(b, k) + 1)) / (1 − α)  /  forward of b + 1 rows,
//
// and no draft at all where that is below a plain step's 1 / forward of 1 row. A draft not made
// (or not used, under `auto`) is still checked against the tokens the step produced, so α keeps
// following the text when the drafter is silent.
import Foundation

/// Drafts continuations of earlier occurrences of the text's last tokens, several candidates
/// merged into one tree.
public final class NGramDrafter: Drafter {
    /// Draft length when none is asked for.
    public static let defaultLength = 8
    /// Candidates verified together when not told otherwise.
    public static let defaultCandidates = 3

    public var name: String { "ngram" }
    public var isLookup: Bool { true }
    /// Most tokens drafted per candidate.
    public let length: Int
    /// Longest and shortest suffix looked up (longest first: a longer match predicts better).
    public let longestMatch: Int, shortestMatch: Int
    /// Most distinct candidates verified together.
    public let candidates: Int
    /// Most draft tokens in one tree.
    public let nodeLimit: Int
    /// The node budgets the measured costs choose from (those up to `nodeLimit`): with the
    /// pending token, rows that fill the kernels' blocks (2, 4, 8, 12, 16).
    static let budgets = [1, 3, 7, 11, 15]
    /// The budget before anything has been measured.
    static let firstBudget = 3
    /// Running estimates of the chance a draft token is accepted (after the ones before it were),
    /// by the length of the match that proposed it.
    private var acceptance: [Int: RunningAverage] = [:]
    /// The match length of the last draft (0: none), and the draft, verified or not.
    private var lastMatch = 0, lastDraft = DraftTree()
    public private(set) var expectedTokensPerMillisecond: Double?
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
        (lastMatch, lastDraft, expectedTokensPerMillisecond) = (0, DraftTree(), nil)
        for n in stride(from: min(longestMatch, context.count - 1), through: shortestMatch, by: -1) {
            let suffix = context[(context.count - n)...]
            // Most recent occurrence first; the suffix itself is not a match (nothing follows it).
            var matches = stride(from: context.count - n - 1, through: 0, by: -1).lazy.filter {
                context[$0..<$0 + n].elementsEqual(suffix)
            }.makeIterator()
            guard var start = matches.next() else { continue }
            (currentBudget, expectedTokensPerMillisecond) = chooseBudget(match: n)
            // A draft that would not pay is still made, to be checked against what comes.
            let budget = currentBudget > 0 ? currentBudget : min(nodeLimit, Self.firstBudget)
            let span = min(length, maximumDepth, budget)
            guard span > 0 else { return tree }
            var found = 0
            while true {
                let before = tree.count
                tree.insert(path: Array(context[(start + n)..<min(start + n + span, context.count)]), limit: budget)
                if tree.count > before { found += 1 }
                guard found < candidates, tree.count < budget, let next = matches.next() else { break }
                start = next
            }
            (lastMatch, lastDraft) = (n, tree)
            break
        }
        return currentBudget > 0 ? tree : DraftTree()
    }

    public func observe(_ verification: Verification, tree: DraftTree, context: [TokenID]) {
        costs.record(rows: tree.count + 1, milliseconds: verification.forwardMilliseconds)
        observeUnverified(produced: verification.produced)
    }

    public func observeUnverified(produced: [TokenID]) {
        guard lastMatch > 0, let deepest = lastDraft.depths.max().map({ $0 + 1 }) else { return }
        // Trials until the first rejection along the path the text took: each draft token that
        // matched, and the first that did not, if the text went that far.
        let matched = lastDraft.matchedLength(of: produced)
        let trials = matched + (matched < deepest && matched < produced.count ? 1 : 0)
        if trials > 0 { acceptance[lastMatch, default: RunningAverage()].add(Double(matched) / Double(trials)) }
    }

    /// The node budget with the most expected tokens per millisecond for a match of `match`
    /// tokens, and that speed; a budget of 0 where none beats a plain step; a modest one (a
    /// single candidate's worth) until acceptance and forward costs have been measured.
    private func chooseBudget(match: Int) -> (budget: Int, rate: Double?) {
        guard let acceptance = acceptance[match]?.value, let plain = costs.estimate(rows: 1) else { return (min(nodeLimit, Self.firstBudget), nil) }
        var best = 0, bestRate = 1 / plain
        for budget in Self.budgets where budget <= nodeLimit {
            guard let cost = costs.estimate(rows: budget + 1) else { continue }
            let rate = expectedTokens(length: min(budget, length), acceptance: acceptance) / cost
            if rate > bestRate { (best, bestRate) = (budget, rate) }
        }
        return (best, bestRate)
    }
}
