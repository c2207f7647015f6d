// Stop strings: generation of a branch ends where its text first contains one of them, and the
// text is cut before it (as OpenAI's `stop` and llama.cpp's `--reverse-prompt` do). While text
// is streamed, a tail that could still grow into a stop string is held back.

/// The text of one branch as it grows, cut at the first stop string.
struct StopStringText {
    let stopStrings: [String]
    /// The text so far (without the stop string, once one was found).
    private(set) var text = ""
    /// Characters of `text` already handed out by `append`.
    private var releasedCount = 0

    init(stopStrings: [String]) {
        self.stopStrings = stopStrings.filter { !$0.isEmpty }
    }

    /// Adds the text of a new token. Returns the text that may now be streamed and whether a stop
    /// string has appeared (the text then ends just before it).
    mutating func append(_ piece: String) -> (released: String, stopped: Bool) {
        text += piece
        if let cut = stopStrings.compactMap({ text.range(of: $0)?.lowerBound }).min() {
            text = String(text[..<cut])
            return (release(upTo: text.count), true)
        }
        let longest = stopStrings.map(\.count).max() ?? 0
        var heldBack = 0
        for length in stride(from: min(longest - 1, text.count), through: 1, by: -1) {
            let tail = text.suffix(length)
            if stopStrings.contains(where: { $0.hasPrefix(tail) }) {
                heldBack = length
                break
            }
        }
        return (release(upTo: text.count - heldBack), false)
    }

    /// The text not yet released (at the end of generation).
    mutating func finish() -> String { release(upTo: text.count) }

    private mutating func release(upTo count: Int) -> String {
        guard count > releasedCount else { return "" }
        let start = text.index(text.startIndex, offsetBy: releasedCount), end = text.index(text.startIndex, offsetBy: count)
        releasedCount = count
        return String(text[start..<end])
    }
}
