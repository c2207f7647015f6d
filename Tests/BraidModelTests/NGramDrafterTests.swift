// Prompt lookup on hand-made token sequences: what it drafts after matches of each length, and
// how it stops drafting after matches that its measurements say do not pay.
@testable import Braid
import Testing

@Suite("N-gram drafter")
struct NGramDrafterTests {
    /// The first tokens of each path of `tree`, in order.
    static func firstTokens(_ tree: DraftTree) -> [TokenID] {
        tree.children(of: DraftTree.root).map { tree.tokens[$0] }
    }

    @Test("drafts what followed the longest earlier match, down to one token")
    func draftsAfterMatches() throws {
        let drafter = try NGramDrafter()
        // The last three tokens (5 6 7) occurred at the start, followed by 8 9.
        let three = try drafter.draft(context: [5, 6, 7, 8, 9, 1, 2, 5, 6, 7], maximumDepth: 16)
        #expect(tree(three, startsWith: [8, 9]))
        // Only the last two (2 3) occurred before, followed by 9.
        let two = try drafter.draft(context: [1, 2, 3, 9, 4, 4, 2, 3], maximumDepth: 16)
        #expect(Self.firstTokens(two) == [9])
        // Only the last token (7) occurred before, followed by 8.
        let one = try drafter.draft(context: [7, 8, 1, 2, 7], maximumDepth: 16)
        #expect(Self.firstTokens(one) == [8])
        // Nothing to match.
        #expect(try drafter.draft(context: [1, 2, 3, 4, 5, 6], maximumDepth: 16).isEmpty)
    }

    @Test("after the text replaces a token of the copy, drafts the source from just after that token")
    func resumesAfterAnEdit() throws {
        let drafter = try NGramDrafter()
        // The text copies 10 11 12 13 14 15 16 17: the match "10 11 12" drafts 13 14 15 ….
        let source: [TokenID] = [10, 11, 12, 13, 14, 15, 16, 17, 99, 10, 11, 12]
        let copy = try drafter.draft(context: source, maximumDepth: 16)
        #expect(tree(copy, startsWith: [13, 14]))
        // The target takes 13, then writes 60 where the source has 14: nothing ends in 60 earlier,
        // so only the resumed copies are drafted, 15 … first (60 replaced 14); the first budget
        // (3 tokens) leaves no room for 14 … (60 inserted).
        let accepted = [copy.children(of: DraftTree.root)[0]]
        var verification = Verification(acceptedNodes: accepted, acceptedTokens: [13], next: 60, targetChoices: [])
        verification.forwardMilliseconds = 50
        drafter.observe(verification, tree: copy, context: source + [13, 60])
        let resumed = try drafter.draft(context: source + [13, 60], maximumDepth: 16)
        #expect(Self.firstTokens(resumed) == [15])
        #expect(tree(resumed, startsWith: [15, 16, 17]))
        // Text that keeps to the source resumes nothing.
        let other = try NGramDrafter()
        let followed = try other.draft(context: source, maximumDepth: 16)
        var onCourse = Verification(acceptedNodes: [followed.children(of: DraftTree.root)[0]], acceptedTokens: [13], next: 14, targetChoices: [])
        onCourse.forwardMilliseconds = 50
        other.observe(onCourse, tree: followed, context: source + [13, 14])
        #expect(try other.draft(context: source + [13, 14, 77], maximumDepth: 16).isEmpty)
    }

    @Test("drafts past 8 tokens only while the text follows a copy")
    func longerDraftsWhileCopying() throws {
        // A 40-token source; the text has started copying it ("10 11 12").
        let source = (10..<50).map { TokenID($0) }
        let context = source + [99, 10, 11, 12]
        /// Drafts after the context and lets the target take the deepest path whole (and the
        /// source's next token), or all of it but its last token; returns the deepest path's length.
        func step(_ drafter: NGramDrafter, whole: Bool) throws -> Int {
            let tree = try drafter.draft(context: context, maximumDepth: 32)
            guard let deepest = tree.depths.indices.max(by: { tree.depths[$0] < tree.depths[$1] }) else { return 0 }
            let path = tree.path(to: deepest)
            let accepted = whole ? path : Array(path.dropLast())
            var verification = Verification(acceptedNodes: [], acceptedTokens: accepted, next: whole ? path[path.count - 1] + 1 : 7,
                                            targetChoices: [])
            verification.forwardMilliseconds = 60 + 10 * Double(tree.count)
            drafter.observe(verification, tree: tree, context: context)
            return path.count
        }
        let copying = try NGramDrafter(), broken = try NGramDrafter()
        for _ in 0..<6 {
            _ = try step(copying, whole: true)
            _ = try step(broken, whole: true)
        }
        // Whole drafts: the copy is drafted 15 tokens at a time.
        #expect(try step(copying, whole: true) == 15)
        // One draft that missed its last token: back to 8, though every token but one was accepted.
        _ = try step(broken, whole: false)
        #expect(try step(broken, whole: true) == 8)
        // And 15 again once that one is accepted whole.
        #expect(try step(broken, whole: true) == 15)
    }

    func tree(_ tree: DraftTree, startsWith tokens: [TokenID]) -> Bool {
        var node = DraftTree.root
        for token in tokens {
            guard let child = tree.children(of: node).first(where: { tree.tokens[$0] == token }) else { return false }
            node = child
        }
        return true
    }

    @Test("stops drafting after short matches that are always wrong, but not after long ones")
    func skipsMatchesThatDoNotPay() throws {
        let drafter = try NGramDrafter()
        let short: [TokenID] = [1, 2, 3, 9, 4, 4, 2, 3]        // a two-token match
        let long: [TokenID] = [5, 6, 7, 8, 9, 1, 2, 3, 5, 6, 7, 8]  // a four-token match
        func step(_ context: [TokenID], accepting: Bool) throws -> Int {
            let tree = try drafter.draft(context: context, maximumDepth: 16)
            // Forwards: 60 ms for one row, 10 ms per further row. Accepted: the first path, whole.
            let path = accepting && !tree.isEmpty ? tree.path(to: tree.count - 1) : []
            var verification = Verification(acceptedNodes: Array(path.indices), acceptedTokens: path, next: 0, targetChoices: [])
            verification.forwardMilliseconds = 60 + 10 * Double(tree.count)
            drafter.observe(verification, tree: tree, context: context + [7])
            return tree.count
        }
        for _ in 0..<20 {
            _ = try step(short, accepting: false)
            _ = try step(long, accepting: true)
        }
        let shortDrafts = try (0..<16).map { _ in try step(short, accepting: false) }
        let longDrafts = try (0..<16).map { _ in try step(long, accepting: true) }
        // Two-token matches: no drafts (what they would have drafted is still checked); four-token
        // ones: full drafts.
        #expect(shortDrafts.allSatisfy { $0 == 0 }, "\(shortDrafts)")
        #expect(longDrafts.allSatisfy { $0 > 1 }, "\(longDrafts)")
        // Once the text follows the two-token matches (9 after "2 3"), they are drafted again:
        // the drafts not made were still checked against the text.
        var resumedAfter: Int?
        for attempt in 0..<30 where resumedAfter == nil {
            let tree = try drafter.draft(context: short, maximumDepth: 16)
            if !tree.isEmpty { resumedAfter = attempt }
            var verification = Verification(acceptedNodes: [], acceptedTokens: [], next: 9, targetChoices: [])
            verification.forwardMilliseconds = 60 + 10 * Double(tree.count)
            drafter.observe(verification, tree: tree, context: short + [9])
        }
        #expect((resumedAfter ?? 99) <= 5, "\(String(describing: resumedAfter))")
    }
}
