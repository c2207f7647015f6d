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
//   (1 − α^(min(b, r) + 1)) / (1 − α)  /  forward of b + 1 rows,
//
// and no draft at all where that is below a plain step's 1 / forward of 1 row. The longest path r
// is 8 tokens, or k (15 unless asked) once a draft was accepted whole: the text is copying. A
// draft not made (or not used, under `auto`) is still checked against the tokens the step
// produced, so α keeps following the text when the drafter is silent.
//
// Edits break a copy at the changed token, and the suffix that holds it matches nothing until a
// few more tokens are out. So when the text leaves the source it was copying, the next tree also
// proposes the source from just after the token it replaced, and from that token on (as if the
// new one were inserted); whichever is right picks the copy up again at once:
//
//   source   … total = price * count ; return total …
//   text     … total = price * amount          ← "amount" replaced "count": the next tree
//                                                holds "; return total …" (and "count ; …")
import Foundation

/// Drafts continuations of earlier occurrences of the text's last tokens, several candidates
/// merged into one tree.
public final class NGramDrafter: Drafter {
    /// Draft length when none is asked for.
    public static let defaultLength = 15
    /// Most tokens drafted per candidate until a draft is accepted whole: a copy under way then
    /// drafts up to `length` (on the 0.5B's editing prompts, copies drafted 15 at a time gave 10.3
    /// tokens per forward where 8 gave 7.1), text that copies nothing stays at this.
    public static let openingLength = 8
    /// Candidates verified together when not told otherwise.
    public static let defaultCandidates = 3

    public var name: String { "ngram" }
    public var isLookup: Bool { true }
    /// Most tokens drafted per candidate.
    public let length: Int
    /// Longest and shortest suffix looked up (longest first: a longer match predicts better, and
    /// each length keeps its own acceptance).
    public let longestMatch: Int, shortestMatch: Int
    /// The longest suffix looked up when not told otherwise: 6, as replaying the 1.5B's greedy
    /// answers to the eight editing prompts showed 2.27 tokens per forward against 2.20 with 4
    /// (a match of 5–6 tokens inside a copied line is surer than one of 4); code and prose alike.
    public static let defaultLongestMatch = 6
    /// Most distinct candidates verified together.
    public let candidates: Int
    /// Most draft tokens in one tree.
    public let nodeLimit: Int
    /// The node budgets the measured costs choose from (those up to `nodeLimit`).
    static let budgets = 1...15
    /// The budget before anything has been measured.
    static let firstBudget = 3
    /// Running estimates of the chance a draft token is accepted (after the ones before it were),
    /// by the length of the match that proposed it.
    private var acceptance: [Int: RunningAverage] = [:]
    /// The match length of the last draft (0: only resumed copies; nil: no draft), and the draft,
    /// verified or not.
    private var lastMatch: Int?, lastDraft = DraftTree()
    /// Where each path of the last draft was copied from: the context position of its first
    /// token, the path, and the token that follows it there (nil at the end of the context).
    private var lastSources: [(position: Int, path: [TokenID], following: TokenID?)] = []
    /// Where the text may take up the copy it just left (see the file comment): the positions
    /// after the replaced token and of it.
    private var resumptions: [Int] = []
    public private(set) var expectedTokensPerMillisecond: Double?
    private let costs: ForwardCosts
    /// The node budget of the last draft.
    public private(set) var currentBudget: Int
    /// Whether the last draft checked was accepted whole: the text is following a copy.
    private var followingCopy = false

    /// Throws for lengths below 1 or a shortest match longer than the longest. `costs`: the
    /// target's forward costs, shared with other drafters of the same generation.
    public init(length: Int = defaultLength, longestMatch: Int = defaultLongestMatch, shortestMatch: Int = 1, candidates: Int = defaultCandidates, nodeLimit: Int = 15,
                costs: ForwardCosts = ForwardCosts()) throws {
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
        self.costs = costs
        currentBudget = min(nodeLimit, Self.firstBudget)
    }

    public func draft(context: [TokenID], maximumDepth: Int) throws -> DraftTree {
        (lastMatch, lastDraft, lastSources, expectedTokensPerMillisecond) = (nil, DraftTree(), [], nil)
        let resumed = resumptions.filter { $0 < context.count }
        resumptions = []
        // The longest suffix found earlier, and what followed its occurrences, most recent first
        // (the suffix itself is not a match: nothing follows it).
        var match = 0, latest: [Int] = [], earlier = AnyIterator<Int> { nil }
        for n in stride(from: min(longestMatch, context.count - 1), through: shortestMatch, by: -1) {
            let suffix = context[(context.count - n)...]
            var starts = stride(from: context.count - n - 1, through: 0, by: -1).lazy.filter {
                context[$0..<$0 + n].elementsEqual(suffix)
            }.map { $0 + n }.makeIterator()
            guard let first = starts.next() else { continue }
            (match, latest, earlier) = (n, [first], AnyIterator(starts))
            break
        }
        guard match > 0 || !resumed.isEmpty else { return DraftTree() }
        // A resumed copy predicts better than a one-token match: it leads such trees, which then
        // keep their own acceptance (as matches of length 0).
        let resumedFirst = match <= 1 && !resumed.isEmpty
        if resumedFirst { match = 0 }
        let reach = followingCopy ? length : min(length, Self.openingLength)
        (currentBudget, expectedTokensPerMillisecond) = chooseBudget(match: match, reach: reach)
        // A draft that would not pay is still made, to be checked against what comes.
        let budget = currentBudget > 0 ? currentBudget : min(nodeLimit, Self.firstBudget)
        let span = min(reach, maximumDepth, budget)
        guard span > 0 else { return DraftTree() }
        var tree = DraftTree(), found = 0
        func copy(from position: Int) {
            let path = Array(context[position..<min(position + span, context.count)])
            let before = tree.count
            tree.insert(path: path, limit: budget)
            guard tree.count > before else { return }
            found += 1
            lastSources.append((position, path, position + path.count < context.count ? context[position + path.count] : nil))
        }
        // The latest match and the resumed copies (in that order unless the resumed lead), then
        // earlier matches.
        for position in resumedFirst ? resumed + latest : latest + resumed where tree.count < budget { copy(from: position) }
        while found < candidates + resumed.count, tree.count < budget, let next = earlier.next() { copy(from: next) }
        (lastMatch, lastDraft) = (match, tree)
        return currentBudget > 0 ? tree : DraftTree()
    }

    public func observe(_ verification: Verification, tree: DraftTree, context: [TokenID]) {
        costs.record(rows: tree.count + 1, milliseconds: verification.forwardMilliseconds)
        observeUnverified(produced: verification.produced)
    }

    public func observeUnverified(produced: [TokenID]) {
        guard let lastMatch, let deepest = lastDraft.depths.max().map({ $0 + 1 }) else {
            followingCopy = false
            return
        }
        // Trials until the first rejection along the path the text took: each draft token that
        // matched, and the first that did not, if the text went that far.
        let matched = lastDraft.matchedLength(of: produced)
        followingCopy = matched >= deepest
        let trials = matched + (matched < deepest && matched < produced.count ? 1 : 0)
        if trials > 0 { acceptance[lastMatch, default: RunningAverage()].add(Double(matched) / Double(trials)) }
        // The text left the source it followed (for at least a token) where the next produced
        // token is not the source's.
        guard matched > 0, matched < produced.count,
              let source = lastSources.first(where: { Array($0.path.prefix(matched)) == Array(produced.prefix(matched)) }) else { return }
        let sourceNext = matched < source.path.count ? source.path[matched] : source.following
        if sourceNext != produced[matched] { resumptions = [source.position + matched + 1, source.position + matched] }
    }

    /// The node budget with the most expected tokens per millisecond for a match of `match`
    /// tokens and paths of at most `reach` tokens, and that speed; a budget of 0 where none beats
    /// a plain step; a modest one (a single candidate's worth) until acceptance and forward costs
    /// have been measured.
    private func chooseBudget(match: Int, reach: Int) -> (budget: Int, rate: Double?) {
        guard let acceptance = acceptance[match]?.value, let plain = costs.estimate(rows: 1) else { return (min(nodeLimit, Self.firstBudget), nil) }
        var best = 0, bestRate = 1 / plain
        for budget in Self.budgets where budget <= nodeLimit {
            guard let cost = costs.estimate(rows: budget + 1) else { continue }
            let rate = expectedTokens(length: min(budget, reach), acceptance: acceptance) / cost
            if rate > bestRate { (best, bestRate) = (budget, rate) }
        }
        return (best, bestRate)
    }
}
