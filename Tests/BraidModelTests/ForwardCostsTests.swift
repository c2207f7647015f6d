// The forward-cost model that sizes drafts: measurements keyed by row count, straight lines
// between them.
@testable import Braid
import Testing

@Suite("Forward costs")
struct ForwardCostsTests {
    func close(_ estimate: Double?, _ expected: Double) -> Bool {
        estimate.map { abs($0 - expected) < 1e-9 } ?? false
    }

    @Test("a forward costs what its row count costs; counts not seen lie on lines between those seen")
    func estimates() throws {
        let costs = ForwardCosts(coldForwards: 0)
        #expect(costs.estimate(rows: 4) == nil)
        costs.record(rows: 1, milliseconds: 60)
        #expect(close(costs.estimate(rows: 3), 60 * 1.1))  // one count seen: 5% per row
        costs.record(rows: 5, milliseconds: 130)
        for rows in [4, 5, 7, 8, 16] {
            #expect(close(costs.estimate(rows: rows), 60 + 17.5 * Double(rows - 1)))
        }
        costs.record(rows: 2, milliseconds: 62)
        #expect(close(costs.estimate(rows: 2), 62))
        #expect(close(costs.estimate(rows: 4), 62 + (130 - 62) / 3 * 2))
    }

    @Test("a measurement moves the sizes not measured by the same ratio: the machine's drift, not their shape")
    func followsDrift() throws {
        let costs = ForwardCosts(coldForwards: 0)
        costs.record(rows: 1, milliseconds: 60)
        costs.record(rows: 1, milliseconds: 60)
        costs.record(rows: 8, milliseconds: 130)
        costs.record(rows: 1, milliseconds: 90)  // the third of its size: the average moves a third of the way, to 70
        #expect(close(costs.estimate(rows: 1), 70))
        #expect(close(costs.estimate(rows: 8), 130 * 70 / 60))
        costs.record(rows: 3, milliseconds: 100)  // a new size moves nothing else
        #expect(close(costs.estimate(rows: 8), 130 * 70 / 60))
    }

    @Test("the first forward, cold, is left out")
    func leavesOutTheColdForward() throws {
        let costs = ForwardCosts()
        costs.record(rows: 5, milliseconds: 110)
        #expect(costs.estimate(rows: 5) == nil)
        costs.record(rows: 5, milliseconds: 70)
        #expect(close(costs.estimate(rows: 5), 70))
        let none = ForwardCosts(coldForwards: -1)  // nonsense: none left out
        none.record(rows: 5, milliseconds: 70)
        #expect(close(none.estimate(rows: 5), 70))
    }
}
