// The tree verifier: one forward of the target over the pending token p (position L, the cache
// holding positions 0..<L) and a draft tree, then the longest path the target agrees with.
//
//        p ── a ── b ── c          lane 0 (the sequence itself): p a b c
//             │    └─── d          lane 1 (a fork):              p a b d
//             └─── e ── f          lane 2 (a fork):              p e f
//
// Rows go in depth-first order; each sees the cache and the rows marked ■ (its ancestors and
// itself), its position is L + its depth:
//
//   row  token  position  lane (mirrors)   p  a  b  c  d  e  f
//   0    p      L         0 (1, 2)         ■
//   1    a      L+1       0 (1)            ■  ■
//   2    b      L+2       0 (1)            ■  ■  ■
//   3    c      L+3       0                ■  ■  ■  ■
//   4    d      L+3       1                ■  ■  ■     ■
//   5    e      L+1       2                ■              ■
//   6    f      L+2       2                ■              ■  ■
//
// The mask is never built. Every root-to-leaf path is a lane: a sequence of the paged cache
// forked from the current one (nothing is copied but the partly filled last block, on first
// write). A row stores its keys and values into every lane that holds it (Batch mirrors) and
// attends causally within one of them, where its ancestors lie in position order exactly as plain
// decoding lays them out — so a row of the accepted path gets the same bits it would get decoded
// alone. Accepting a path keeps its lane, truncated after the last accepted token, and frees the
// other lanes: no keys or values move.
//
// Acceptance: at each node the target's distribution p (the sampler's, after temperature and
// filters) meets the children in order; child x drawn from q (a point mass for deterministic
// drafts) is accepted with probability min(1, p(x)/q(x)), else p becomes norm(max(0, p − q)) for
// the next child (SpecInfer's multi-candidate rule; Leviathan et al. and Chen et al. for one
// child). With no child accepted, the next token is drawn from what is left of p. At temperature
// 0, p puts everything on the arg-max, so this keeps exactly the tokens greedy decoding makes.

/// Runs draft trees through the target and commits the path it accepts.
struct TreeVerifier {
    let model: LanguageModel
    let cache: PagedKVCache
    let pool: ComputePool

    /// What one verification did to the sequence.
    struct Step {
        /// Which path was accepted and what the target chose everywhere.
        var verification: Verification
        /// The sequence now holding the prefix, the pending token and the accepted drafts.
        var sequence: SequenceID
        /// The accepted drafts and the next pending token, each scored under the target.
        var tokens: [SampledToken]
    }

    /// Verifies `tree` below `pending`, which follows the tokens of `sequence`; `history` is the
    /// text so far, ending with `pending`, for the sampler's repetition penalty. On return the sequence (possibly another
    /// id: the accepted lane) holds the pending token and the accepted drafts.
    func verify(pending: TokenID, tree: DraftTree, sequence: SequenceID, sampler: inout Sampler, history: [TokenID],
                alternatives: Int) throws -> Step {
        let length = cache.length(of: sequence)
        // Children of the root (index 0) and of node i (index i + 1), and depth-first order.
        var children = [[Int]](repeating: [], count: tree.count + 1)
        for node in 0..<tree.count { children[tree.parents[node] + 1].append(node) }
        var order: [Int] = []
        var lanes = [Range<Int>](repeating: 0..<0, count: tree.count + 1)  // lanes under each node (contiguous)
        var laneCount = 0
        func visit(_ node: Int) {
            if node != DraftTree.root { order.append(node) }
            let first = laneCount
            if children[node + 1].isEmpty { laneCount += 1 }
            for child in children[node + 1] { visit(child) }
            lanes[node + 1] = first..<laneCount
        }
        visit(DraftTree.root)

        var laneSequences = [sequence]
        do {
            for _ in 1..<laneCount { laneSequences.append(try cache.fork(sequence)) }
        } catch {
            for lane in laneSequences.dropFirst() { cache.free(lane) }
            throw error
        }
        func mirrors(_ node: Int) -> [SequenceID] { lanes[node + 1].dropFirst().map { laneSequences[$0] } }
        var batch = Batch()
        batch.rowExact = true
        batch.append(pending, position: length, sequence: sequence, wantsLogits: true, mirrors: mirrors(DraftTree.root))
        var row = [Int](repeating: 0, count: tree.count)
        for (index, node) in order.enumerated() {
            row[node] = index + 1
            batch.append(tree.tokens[node], position: length + 1 + tree.depths[node], sequence: laneSequences[lanes[node + 1].lowerBound],
                         wantsLogits: true, mirrors: mirrors(node))
        }
        let logits: [Float]
        do {
            logits = try model.transformer.forward(batch, cache: cache, pool: pool)
        } catch {
            for lane in laneSequences.dropFirst() { cache.free(lane) }
            throw error
        }

        let vocabulary = model.configuration.vocabularySize
        return logits.withUnsafeBufferPointer { all in
            func logitsRow(_ node: Int) -> UnsafeBufferPointer<Float> {
                let r = node == DraftTree.root ? 0 : row[node]
                return UnsafeBufferPointer(rebasing: all[r * vocabulary..<(r + 1) * vocabulary])
            }
            let choices = ([DraftTree.root] + Array(0..<tree.count)).map { Sampler.mostLikely(logitsRow($0)) }
            // Walk down from the pending token while the target accepts a child.
            var node = DraftTree.root
            var path = history
            var accepted: [Int] = [], tokens: [SampledToken] = []
            var next: TokenID = 0
            while true {
                var p = sampler.distribution(logitsRow(node), history: path)
                var acceptedChild: Int?
                for child in children[node + 1] {
                    let token = tree.tokens[child]
                    let q = tree.proposals[child] ?? TokenDistribution(token: token)
                    let ratio = p.probability(of: token) / max(q.probability(of: token), .leastNormalMagnitude)
                    if ratio >= 1 || (ratio > 0 && sampler.uniform() < ratio) {
                        acceptedChild = child
                        break
                    }
                    p = p.removing(q) ?? p
                }
                if let child = acceptedChild {
                    tokens.append(Sampler.scored(tree.tokens[child], logits: logitsRow(node), alternatives: alternatives))
                    accepted.append(child)
                    path.append(tree.tokens[child])
                    node = child
                } else {
                    let token = sampler.draw(from: p)
                    tokens.append(Sampler.scored(token, logits: logitsRow(node), alternatives: alternatives))
                    next = token
                    break
                }
            }
            // Keep the lane of the last accepted node, cut after it; free the rest.
            let kept = laneSequences[lanes[node + 1].lowerBound]
            cache.truncate(kept, to: length + 1 + accepted.count)
            for lane in laneSequences where lane != kept { cache.free(lane) }
            let verification = Verification(acceptedNodes: accepted, acceptedTokens: accepted.map { tree.tokens[$0] }, next: next,
                                            targetChoices: choices)
            return Step(verification: verification, sequence: kept, tokens: tokens)
        }
    }
}
